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
    lost: int = 0
    """Attempts lost with their worker (killed, vanished): retried without counting
    against ``retry_config``, up to :data:`oxify.engine.machine.MAX_LOST_ATTEMPTS`."""
    wait: dict[str, Any] | None = None
    """A composite node (Loop, TryCatch, SubWorkflow, Parallel) waiting for its child
    executions: the plain-data form of :class:`oxify.nodes.composite.Wait`."""

    @property
    def has_output(self) -> bool:
        """Whether downstream nodes see an output: the node succeeded, or it failed and a
        default output stands in for it (``on_upstream_failure="execute_with_defaults"``)."""
        return self.state is NodeState.SUCCEEDED or (
            self.state is NodeState.FAILED and self.output is not None
        )

    def to_dict(self, *, with_output: bool = True) -> dict[str, Any]:
        """Plain data (``with_output=False`` for stores that keep outputs apart)."""
        data: dict[str, Any] = {
            "state": self.state.value,
            "attempts": self.attempts,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "routes": list(self.routes) if self.routes is not None else None,
            "skip_reason": self.skip_reason.value if self.skip_reason else None,
            "lost": self.lost,
        }
        if self.wait is not None:
            data["wait"] = self.wait
        if with_output:
            data["output"] = self.output
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeRecord:
        routes = data.get("routes")
        reason = data.get("skip_reason")
        return cls(
            state=NodeState(data["state"]),
            attempts=data.get("attempts", 0),
            output=data.get("output"),
            error=data.get("error"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            routes=tuple(routes) if routes is not None else None,
            skip_reason=SkipReason(reason) if reason else None,
            lost=data.get("lost", 0),
            wait=data.get("wait"),
        )


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
    parent: dict[str, Any] | None = None
    """For a child execution: ``execution_id``, ``node_id``, ``attempt`` and ``child`` (its
    key in the parent's wait) of the composite node that started it."""
    depth: int = 0
    """0 for a top-level execution, parent's depth + 1 for a child."""

    def to_dict(self, *, with_outputs: bool = True) -> dict[str, Any]:
        """Plain data; ``with_outputs=False`` leaves node outputs (and inputs) out, for
        stores that keep them apart."""
        data: dict[str, Any] = {
            "execution_id": self.execution_id,
            "workflow_id": self.workflow_id,
            "workflow_hash": self.workflow_hash,
            "mode": self.mode,
            "state": self.state.value,
            "current_level": self.current_level,
            "finished_count": self.finished_count,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "failed_nodes": list(self.failed_nodes),
            "parent": dict(self.parent) if self.parent is not None else None,
            "depth": self.depth,
            "pending_preds": dict(self.pending_preds),
            "level_remaining": list(self.level_remaining),
            "nodes": {n: r.to_dict(with_output=with_outputs) for n, r in self.nodes.items()},
        }
        if with_outputs:
            data["inputs"] = self.inputs
        return data

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], inputs: dict[str, Any] | None = None
    ) -> ExecutionRecord:
        return cls(
            execution_id=data["execution_id"],
            workflow_id=data["workflow_id"],
            workflow_hash=data["workflow_hash"],
            mode=data["mode"],
            inputs=inputs if inputs is not None else data.get("inputs", {}),
            nodes={n: NodeRecord.from_dict(r) for n, r in data["nodes"].items()},
            pending_preds=dict(data["pending_preds"]),
            level_remaining=list(data["level_remaining"]),
            state=ExecutionState(data["state"]),
            current_level=data["current_level"],
            finished_count=data["finished_count"],
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            error=data.get("error"),
            failed_nodes=list(data.get("failed_nodes", [])),
            parent=data.get("parent"),
            depth=data.get("depth", 0),
        )
