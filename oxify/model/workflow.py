"""Workflow, Node, Edge and their policies: the OxiFY file format as pydantic models.

Models are frozen: a workflow is parsed once at the edge and never changed afterwards. Unknown
fields are kept so that a file written by the Rust engine (or a newer oxify) round-trips.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oxify.model.kinds import NodeKind


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class RetryConfig(_Model):
    """Retries with exponential backoff: delay = initial * multiplier**(attempt-1), capped."""

    max_retries: int = Field(default=3, ge=0)
    initial_delay_ms: int = Field(default=1000, ge=0)
    backoff_multiplier: float = Field(default=2.0, ge=1.0)
    max_delay_ms: int = Field(default=30000, ge=0)


class UseDefault(_Model):
    """Timeout action: finish the node successfully with this value (JSON text or plain text)."""

    UseDefault: str


TimeoutAction = Literal["Fail", "Skip"] | UseDefault


class TimeoutConfig(_Model):
    """Per-attempt time limit of a node and what happens when it is reached."""

    execution_timeout_ms: int = Field(default=60000, gt=0)
    idle_timeout_ms: int | None = None
    timeout_action: TimeoutAction = "Fail"

    @field_validator("timeout_action", mode="before")
    @classmethod
    def _check_action(cls, value: Any) -> Any:
        if value in ("Fail", "Skip"):
            return value
        if (
            isinstance(value, dict)
            and list(value) == ["UseDefault"]
            and isinstance(value["UseDefault"], str)
        ):
            return value
        raise ValueError(
            f'timeout_action must be "Fail", "Skip" or {{"UseDefault": "<value>"}}, got {value!r}'
        )


class Node(_Model):
    """One step of a workflow. ``id`` is any non-empty string (OxiFY writes UUIDs)."""

    id: str
    name: str = ""
    kind: NodeKind
    position: tuple[float, float] | None = None
    retry_config: RetryConfig | None = None
    timeout_config: TimeoutConfig | None = None

    @model_validator(mode="after")
    def _default_name(self) -> Node:
        # Without a name, a node is named by its id; the field stays "unset" so that saving
        # the workflow again does not add a name the file never had.
        if "name" not in self.model_fields_set:
            object.__setattr__(self, "name", self.id)
        return self

    @property
    def kind_name(self) -> str:
        """The variant name (``"LLM"``, ``"IfElse"``, ...); for Custom nodes, ``"Custom"``."""
        return self.kind.type

    @property
    def label(self) -> str:
        """How messages name this node: ``'name' (id)`` or just the id when they are equal."""
        if not self.name or self.name == self.id:
            return self.id
        return f"'{self.name}' ({self.id})"


class Edge(_Model):
    """A dependency arrow ``from`` → ``to``. ``condition`` is a display label only."""

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    label: str | None = None
    condition: str | None = None


class WorkflowMetadata(_Model):
    """Workflow identity and descriptive fields (timestamps kept as the file wrote them)."""

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    name: str = "workflow"
    description: str | None = None
    version: str = "1.0.0"
    created_at: str | None = None
    updated_at: str | None = None
    tags: list[str] = Field(default_factory=list)
    parent_id: str | None = None
    change_description: str | None = None
    schedule: Any = None


class Workflow(_Model):
    """``{metadata, nodes, edges}``: a DAG of nodes joined by dependency edges."""

    metadata: WorkflowMetadata = Field(default_factory=WorkflowMetadata)
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)

    @cached_property
    def nodes_by_id(self) -> dict[str, Node]:
        """Node id → node (the first one, if ids are duplicated; validation reports that)."""
        out: dict[str, Node] = {}
        for node in self.nodes:
            out.setdefault(node.id, node)
        return out

    def node(self, node_id: str) -> Node:
        """The node with this id; ``KeyError`` if there is none."""
        return self.nodes_by_id[node_id]

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON form: the identity of this exact definition."""
        doc = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def name(self) -> str:
        return self.metadata.name
