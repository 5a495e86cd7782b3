"""Execution options and results, shared by the embedded and the distributed runner."""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from oxify.engine.machine import Machine
from oxify.engine.plan import Plan
from oxify.engine.state import ExecutionRecord, ExecutionState, NodeState
from oxify.errors import ConfigError

if TYPE_CHECKING:
    from oxify.model.workflow import Workflow

_CHECKPOINT = re.compile(r"^(never|every_level|every_n_levels:[1-9]\d*|every_n_nodes:[1-9]\d*)$")

DEFAULT_MAX_CONCURRENT_NODES = 32


class ExecutionConfig(BaseModel):
    """How to run an execution. All durations are seconds.

    - ``mode``: ``"levels"`` runs DAG level N entirely before level N+1; ``"dataflow"`` starts
      each node as soon as its own dependencies are done.
    - ``max_concurrent_nodes``: nodes running at once, and child executions a composite
      node runs at once (embedded mode: its thread budget).
    - ``timeout``: limit for the whole execution; ``node_timeout``: per-attempt limit for nodes
      without a ``timeout_config``.
    - ``continue_on_error``: a failed node does not fail the run; its dependents are skipped.
    - ``on_upstream_failure`` (with ``continue_on_error``): what happens to the dependents of a
      failed node: ``skip`` them, ``execute_with_defaults`` (the failed node's
      ``default_output`` stands in for its output), or ``fail_immediately`` (the execution
      fails as soon as one of them would run).
    - ``checkpoint_frequency``: ``never``, ``every_level``, ``every_n_levels:N`` or
      ``every_n_nodes:N``; ``max_checkpoints``: how many an execution keeps (oldest pruned).
    - ``max_depth``: how deep sub-workflows may nest (recursion stops there, clearly).
    - ``seed``: seeds the retry jitter (for reproducible tests).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["levels", "dataflow"] = "levels"
    max_concurrent_nodes: int = Field(default=DEFAULT_MAX_CONCURRENT_NODES, ge=1, le=10_000)
    timeout: float | None = Field(default=None, gt=0)
    node_timeout: float | None = Field(default=None, gt=0)
    continue_on_error: bool = False
    on_upstream_failure: Literal["skip", "execute_with_defaults", "fail_immediately"] = "skip"
    checkpoint_frequency: str = "never"
    max_checkpoints: int = Field(default=10, ge=1, le=10_000)
    max_depth: int = Field(default=16, ge=1, le=1000)
    seed: int | None = None

    def for_child(self) -> ExecutionConfig:
        """The options of a child execution (Loop iteration, sub-workflow, ...): the same,
        without the whole-execution time limit (the parent's covers it) and checkpoints."""
        return self.model_copy(update={"timeout": None, "checkpoint_frequency": "never"})

    @field_validator("checkpoint_frequency")
    @classmethod
    def _check_frequency(cls, value: str) -> str:
        if not _CHECKPOINT.match(value):
            raise ValueError(
                "must be never, every_level, every_n_levels:N or every_n_nodes:N (N >= 1)"
            )
        return value

    @classmethod
    def make(cls, **options: Any) -> ExecutionConfig:
        """Build from keyword arguments; a bad option raises :class:`ConfigError`."""
        try:
            return cls(**options)
        except pydantic.ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
                for err in e.errors()
            )
            raise ConfigError(f"invalid execution config: {problems}") from None


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class NodeResult:
    """What happened to one node. Times are seconds since the epoch."""

    node_id: str
    name: str
    kind: str
    state: NodeState
    output: Any = None
    error: str | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    skip_reason: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state.value,
            "output": self.output,
            "error": self.error,
            "attempts": self.attempts,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "skip_reason": self.skip_reason,
        }


@dataclass(frozen=True)
class ExecutionResult:
    """The outcome of an execution: its state, the workflow's result and every node's record.

    ``outputs`` is the End node's output (see the README); ``failed_nodes`` lists the nodes
    that failed (with ``continue_on_error`` the run can complete with some of them).
    """

    execution_id: str
    workflow_id: str
    state: ExecutionState
    outputs: Any
    nodes: dict[str, NodeResult]
    error: str | None = None
    failed_nodes: list[str] = field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.state is ExecutionState.COMPLETED

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def node(self, ref: str) -> NodeResult:
        """A node's result by id or by name."""
        if ref in self.nodes:
            return self.nodes[ref]
        for result in self.nodes.values():
            if result.name == ref:
                return result
        raise KeyError(ref)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``oxify run --json`` prints."""
        return {
            "execution_id": self.execution_id,
            "workflow_id": self.workflow_id,
            "state": self.state.value,
            "outputs": self.outputs,
            "error": self.error,
            "failed_nodes": list(self.failed_nodes),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "nodes": {nid: r.to_dict() for nid, r in self.nodes.items()},
        }


def build_result(
    workflow: Workflow,
    record: ExecutionRecord,
    outputs: Mapping[str, Any],
    running: Collection[str] = (),
) -> ExecutionResult:
    """The result of an execution from its record: ``outputs`` holds the outputs of the
    nodes that succeeded; queued nodes named in ``running`` are reported running."""
    nodes: dict[str, NodeResult] = {}
    end_output: Any = None
    for node in workflow.nodes:
        rec = record.nodes[node.id]
        state = rec.state
        if state is NodeState.QUEUED and node.id in running:
            state = NodeState.RUNNING
        output = outputs.get(node.id) if state is NodeState.SUCCEEDED else None
        nodes[node.id] = NodeResult(
            node_id=node.id,
            name=node.name,
            kind=node.kind_name,
            state=state,
            output=output,
            error=rec.error,
            attempts=rec.attempts,
            started_at=rec.started_at,
            finished_at=rec.finished_at,
            skip_reason=rec.skip_reason.value if rec.skip_reason else None,
        )
        if node.kind.type == "End" and state is NodeState.SUCCEEDED:
            end_output = output
    return ExecutionResult(
        execution_id=record.execution_id,
        workflow_id=record.workflow_id,
        state=record.state,
        outputs=end_output,
        nodes=nodes,
        error=record.error,
        failed_nodes=list(record.failed_nodes),
        started_at=record.started_at,
        finished_at=record.finished_at,
    )


def json_inputs(inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-clean copy of workflow inputs; :class:`ConfigError` if they are not JSON."""
    from oxify.nodes.attempt import json_copy

    try:
        clean: dict[str, Any] = json_copy(dict(inputs or {}))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"workflow inputs must be JSON values: {e}") from None
    return clean


def make_machine(
    workflow: Workflow, plan: Plan, config: ExecutionConfig, rng: random.Random | None = None
) -> Machine:
    """The state machine for an execution of ``workflow`` run with ``config``."""
    return Machine(
        workflow,
        plan,
        mode=config.mode,
        continue_on_error=config.continue_on_error,
        on_upstream_failure=config.on_upstream_failure,
        rng=rng,
    )
