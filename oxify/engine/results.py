"""Execution results: what an execution did, node by node (the same in both runners)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from oxify.engine.state import ExecutionRecord, ExecutionState, NodeState

if TYPE_CHECKING:
    from oxify.model.workflow import Workflow


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
