"""What each machine action means as events: one mapping for every runner, so the event
streams of embedded and distributed executions are the same."""

from __future__ import annotations

from typing import Any

from oxify import events as ev
from oxify.engine.machine import (
    Action,
    CancelNodes,
    ExecutionFinished,
    ExecutionPaused,
    ExecutionResumed,
    LevelCompleted,
    LevelStarted,
    NodeFinished,
    NodeRetrying,
    RunNode,
)
from oxify.engine.plan import Plan
from oxify.engine.state import ExecutionRecord, ExecutionState, NodeState
from oxify.model.workflow import Workflow

EventData = tuple[str, dict[str, Any]]


def _ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start) * 1000, 3)


def node_started(workflow: Workflow, node_id: str, attempt: int) -> EventData:
    """The ``node.started`` event of an attempt."""
    node = workflow.nodes_by_id[node_id]
    return ev.NODE_STARTED, {
        "node_id": node_id,
        "name": node.name,
        "kind": node.kind_name,
        "attempt": attempt,
    }


def workflow_started(workflow: Workflow, mode: str) -> EventData:
    return ev.WORKFLOW_STARTED, {
        "workflow_name": workflow.name,
        "total_nodes": len(workflow.nodes),
        "mode": mode,
    }


def describe(
    action: Action, record: ExecutionRecord, workflow: Workflow, plan: Plan
) -> list[EventData]:
    """The events announcing ``action`` (``RunNode`` announces nothing by itself: the
    ``node.started`` event comes when an attempt really starts)."""
    if isinstance(action, RunNode):
        return []
    if isinstance(action, NodeFinished):
        return _finished(action, record, workflow)
    if isinstance(action, NodeRetrying):
        node = workflow.nodes_by_id[action.node_id]
        return [
            (
                ev.NODE_RETRY,
                {
                    "node_id": action.node_id,
                    "name": node.name,
                    "attempt": action.attempt,
                    "delay": round(action.delay, 6),
                    "error": action.error,
                },
            )
        ]
    if isinstance(action, LevelStarted):
        return [(ev.LEVEL_STARTED, {"level": action.level, "node_count": len(action.node_ids)})]
    if isinstance(action, LevelCompleted):
        return [
            (ev.LEVEL_COMPLETED, {"level": action.level}),
            _progress(record, plan, completed_levels=action.level + 1),
        ]
    if isinstance(action, CancelNodes):
        return [
            (ev.NODE_CANCELLED, {"node_id": n, "name": workflow.nodes_by_id[n].name})
            for n in action.node_ids
        ]
    if isinstance(action, ExecutionPaused):
        return [(ev.WORKFLOW_PAUSED, {"reason": action.reason})]
    if isinstance(action, ExecutionResumed):
        return [(ev.WORKFLOW_RESUMED, {})]
    assert isinstance(action, ExecutionFinished)
    duration = _ms(record.started_at, record.finished_at)
    if action.state is ExecutionState.COMPLETED:
        data = {
            "completed_nodes": record.finished_count,
            "failed_nodes": list(record.failed_nodes),
            "duration_ms": duration,
        }
        return [(ev.WORKFLOW_COMPLETED, data)]
    if action.state is ExecutionState.CANCELLED:
        return [(ev.WORKFLOW_CANCELLED, {"reason": action.error, "duration_ms": duration})]
    return [(ev.WORKFLOW_FAILED, {"error": action.error, "duration_ms": duration})]


def _finished(action: NodeFinished, record: ExecutionRecord, workflow: Workflow) -> list[EventData]:
    node = workflow.nodes_by_id[action.node_id]
    rec = record.nodes[action.node_id]
    base: dict[str, Any] = {"node_id": action.node_id, "name": node.name}
    out: list[EventData] = []
    if action.state is NodeState.SUCCEEDED:
        duration = _ms(rec.started_at, rec.finished_at)
        out.append((ev.NODE_COMPLETED, {**base, "duration_ms": duration, "attempts": rec.attempts}))
    elif action.state is NodeState.FAILED:
        out.append((ev.NODE_FAILED, {**base, "error": rec.error, "attempts": rec.attempts}))
    elif action.state is NodeState.SKIPPED:
        reason = rec.skip_reason.value if rec.skip_reason else None
        out.append((ev.NODE_SKIPPED, {**base, "reason": reason}))
    if record.mode == "dataflow":
        out.append(_progress(record, None))
    return out


def _progress(
    record: ExecutionRecord, plan: Plan | None, completed_levels: int | None = None
) -> EventData:
    data: dict[str, Any] = {
        "completed_nodes": record.finished_count,
        "total_nodes": len(record.nodes),
    }
    if completed_levels is not None and plan is not None:
        data["completed_levels"] = completed_levels
        data["total_levels"] = len(plan.levels)
    return ev.PROGRESS_UPDATE, data
