"""Execution and node records: the state both runners keep and the machine updates."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ExecutionState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_EXECUTION


_TERMINAL_EXECUTION = frozenset(
    {ExecutionState.COMPLETED, ExecutionState.FAILED, ExecutionState.CANCELLED}
)


class NodeState(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_NODE


_TERMINAL_NODE = frozenset(
    {NodeState.SUCCEEDED, NodeState.FAILED, NodeState.SKIPPED, NodeState.CANCELLED}
)


class SkipReason(StrEnum):
    """Why a node was skipped."""

    BRANCH_NOT_TAKEN = "branch_not_taken"
    """Every incoming edge comes from a router (IfElse/Switch) that chose another branch,
    or from nodes skipped for that reason."""
    UPSTREAM_FAILED = "upstream_failed"
    """A dependency failed (only under ``continue_on_error``)."""
    UPSTREAM_SKIPPED = "upstream_skipped"
    """Every dependency was skipped for another reason (for example a timeout with Skip)."""
    TIMEOUT = "timeout"
    """The node timed out and its ``timeout_action`` is ``Skip``."""


@dataclass
class NodeRecord:
    """What happened to one node. Times are seconds since the epoch."""

    state: NodeState = NodeState.PENDING
    attempts: int = 0
    output: Any = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    routes: tuple[str, ...] | None = None
    skip_reason: SkipReason | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "attempts": self.attempts,
            "output": self.output,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "routes": list(self.routes) if self.routes is not None else None,
            "skip_reason": self.skip_reason.value if self.skip_reason else None,
        }


@dataclass
class ExecutionRecord:
    """The whole state of one execution.

    ``pending_preds`` (per node, the number of dependencies not yet finished) and
    ``level_remaining`` (per level, the number of nodes not yet finished) are counters the
    machine keeps so that each event costs time proportional to the nodes it touches.
    """

    execution_id: str
    workflow_id: str
    workflow_hash: str
    mode: str
    inputs: dict[str, Any]
    nodes: dict[str, NodeRecord]
    pending_preds: dict[str, int]
    level_remaining: list[int]
    state: ExecutionState = ExecutionState.PENDING
    current_level: int = 0
    finished_count: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    failed_nodes: list[str] = field(default_factory=list)
