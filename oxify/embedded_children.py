"""Composite nodes in the embedded runner: child executions on threads of their own.

The wait logic is :mod:`oxify.nodes.composite` (shared with distributed mode); this module
starts, cancels, pauses and resumes the children of an :class:`~oxify.embedded.Execution`
and feeds their results back to it, on its driver thread.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from oxify import events as ev
from oxify.engine.machine import Action
from oxify.engine.state import ExecutionState, NodeState
from oxify.errors import OxifyError
from oxify.execution import ExecutionResult
from oxify.nodes import composite
from oxify.nodes.attempt import settle
from oxify.nodes.base import NodeContext
from oxify.nodes.composite import ChildResult, CompositeStep

if TYPE_CHECKING:
    from oxify.embedded import Execution


def carry_out(ex: Execution, node_id: str, attempt: int, step: CompositeStep) -> list[Action]:
    """Carry out a composite node's step: cancel and start children, or finish it."""
    rec = ex.record.nodes[node_id]
    for cid in step.cancel:
        ex._engine._signal_child(cid, "cancel")
    now = time.time()
    if step.wait is None:
        rec.wait = None
        if step.failure is not None:
            return ex.machine.node_failed(ex.record, node_id, attempt, step.failure, now)
        output, _, failure = settle(step.output, None)
        if failure is not None:
            return ex.machine.node_failed(ex.record, node_id, attempt, failure, now)
        return ex.machine.node_succeeded(ex.record, node_id, attempt, output, now)
    first = rec.state is not NodeState.WAITING
    new_wait = first or rec.wait is None or rec.wait["seq"] != step.wait.seq
    rec.wait = step.wait.to_dict()
    if first:
        ex.machine.node_waiting(ex.record, node_id, attempt)
        name = ex.workflow.nodes_by_id[node_id].name
        ex._emit(ev.NODE_WAITING, node_id=node_id, name=name)
    due = step.wait.next_deadline()
    if new_wait and due is not None:
        ex._add_timer(max(0.0, due - now), ("wait_deadline", node_id, attempt))
    for child in step.start:
        _start_child(ex, node_id, attempt, child)
    return []


def _start_child(ex: Execution, node_id: str, attempt: int, child: dict[str, Any]) -> None:
    cid = child["id"]
    ex._emit(ev.CHILD_STARTED, node_id=node_id, child_id=cid, label=child["label"])

    def done(result: ExecutionResult) -> None:
        outcome = ChildResult(
            child["label"], child_state(result.state), result.outputs, result.error, cid
        )
        ex._inbox.put(("child", node_id, attempt, cid, outcome))

    try:
        definition = ex.definition.resolve(child["ref"])
        ex._engine._start_child(
            definition,
            child["inputs"],
            ex.config.for_child(),
            cid,
            {"execution_id": ex.id, "node_id": node_id, "attempt": attempt, "child": cid},
            ex.record.depth + 1,
            done,
            paused=ex.record.state is ExecutionState.PAUSED,
        )
    except OxifyError as e:
        failed = ChildResult(child["label"], "failed", None, str(e), cid)
        ex._inbox.put(("child", node_id, attempt, cid, failed))


def running_children(ex: Execution) -> list[str]:
    return [
        child["id"]
        for rec in ex.record.nodes.values()
        if rec.wait is not None
        for child in rec.wait["children"]
        if child["status"] == "running"
    ]


def child_finished(
    ex: Execution, node_id: str, attempt: int, cid: str, result: ChildResult
) -> None:
    rec = ex.record.nodes[node_id]
    if rec.attempts != attempt or rec.state is not NodeState.WAITING or rec.wait is None:
        return
    executor, ctx = _composite_of(ex, node_id, attempt)
    step = composite.child_done(
        executor,
        ctx,
        rec.wait,
        cid,
        result,
        time.time(),
        ex.config.max_depth,
        max_running=ex.config.max_concurrent_nodes,
    )
    if step is None:
        return
    ex._emit(
        ev.CHILD_FINISHED,
        node_id=node_id,
        child_id=cid,
        label=result.label,
        state=result.state,
        error=result.error,
    )
    ex._apply(carry_out(ex, node_id, attempt, step))


def wait_expired(ex: Execution, node_id: str, attempt: int) -> None:
    rec = ex.record.nodes[node_id]
    if rec.attempts != attempt or rec.state is not NodeState.WAITING or rec.wait is None:
        return
    executor, ctx = _composite_of(ex, node_id, attempt)
    step = composite.expired(
        executor,
        ctx,
        rec.wait,
        time.time(),
        ex.config.max_depth,
        max_running=ex.config.max_concurrent_nodes,
    )
    if step is not None:
        ex._apply(carry_out(ex, node_id, attempt, step))


def _composite_of(
    ex: Execution, node_id: str, attempt: int
) -> tuple[composite.CompositeExecutor, NodeContext]:
    spec = ex._engine.registry.resolve(ex.workflow.nodes_by_id[node_id])
    assert spec.composite is not None
    return spec.composite, ex._context(node_id, attempt, None)


def child_state(state: ExecutionState) -> composite.ChildState:
    """How a child execution's end reads in its parent's wait."""
    if state is ExecutionState.COMPLETED:
        return "completed"
    if state is ExecutionState.CANCELLED:
        return "cancelled"
    return "failed"
