"""Composite nodes in distributed mode: child executions through the state store.

A composite node steps inline, in the orchestration step (like IfElse): ``begin`` and
``resume`` are pure, so a step retried after a lost compare-and-set gives the same answer.
When it spawns children, the node's wait is committed in the record first; only then are the
children created (with deterministic ids, so creating one twice is harmless) and started.
A child that ends records its result on its parent once (:meth:`StateStore.child_finished`)
and wakes it; the parent's next step applies the result. The reconciler repairs the gaps a
crash can leave: a child committed in a wait but never created, a child that ended but
never told its parent, a wait whose deadline passed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from oxify import events as ev
from oxify.dispatch import event_dict
from oxify.engine.describe import node_started
from oxify.engine.machine import Action, RunNode
from oxify.engine.state import ExecutionRecord, ExecutionState, NodeState
from oxify.errors import ConfigError, OxifyError, WorkflowError
from oxify.execution import ExecutionConfig
from oxify.nodes import composite
from oxify.nodes.attempt import settle
from oxify.nodes.composite import ChildResult, CompositeExecutor, CompositeStep
from oxify.remote_context import remote_context

if TYPE_CHECKING:
    from oxify.coordinator import Coordinator, _Run, _Step

log = logging.getLogger("oxify.coordinator")


def _ctx(c: Coordinator, run: _Run, node_id: str, attempt: int) -> Any:
    return remote_context(
        c.store,
        run.eid,
        run.workflow,
        run.plan,
        run.names,
        node_id,
        attempt,
        run.record.inputs,
        None,
        run.overlay,
        run.record.depth,
    )


def _executor(c: Coordinator, run: _Run, node_id: str) -> CompositeExecutor:
    spec = c.registry.resolve(run.workflow.nodes_by_id[node_id])
    assert spec.composite is not None
    return spec.composite


def _event(run: _Run, type_: str, **data: Any) -> None:
    run.step.commit.events.append(event_dict(type_, run.eid, run.record.workflow_id, data))


def begin_composite(
    c: Coordinator, run: _Run, action: RunNode, executor: CompositeExecutor
) -> list[Action]:
    """Start an attempt of a composite node, in the step."""
    record, node_id = run.record, action.node_id
    if not run.machine.node_started(record, node_id, action.attempt, run.now):
        return []
    type_, data = node_started(run.workflow, node_id, action.attempt)
    _event(run, type_, **data)
    ctx = _ctx(c, run, node_id, action.attempt)
    step = composite.begin(executor, ctx, run.now, run.cfg.max_depth)
    return _carry_out(run, node_id, action.attempt, step)


def _carry_out(run: _Run, node_id: str, attempt: int, step: CompositeStep) -> list[Action]:
    record, machine = run.record, run.machine
    rec = record.nodes[node_id]
    run.step.cancel_children += step.cancel
    run.changed = True
    now = time.time()
    if step.wait is None:
        rec.wait = None
        if step.failure is not None:
            return machine.node_failed(record, node_id, attempt, step.failure, now)
        output, _, failure = settle(step.output, None)
        if failure is not None:
            return machine.node_failed(record, node_id, attempt, failure, now)
        run.overlay[node_id] = output
        return machine.node_succeeded(record, node_id, attempt, output, now)
    if rec.state is not NodeState.WAITING:
        machine.node_waiting(record, node_id, attempt)
        _event(run, ev.NODE_WAITING, node_id=node_id, name=run.workflow.nodes_by_id[node_id].name)
    new_wait = rec.wait is None or rec.wait["seq"] != step.wait.seq
    rec.wait = step.wait.to_dict()
    due = step.wait.next_deadline()
    if due is not None and new_wait:  # one wake-up per wait (the reconciler backs it up)
        delay = max(0.0, due - run.now) + 0.05
        run.step.wake = delay if run.step.wake is None else min(run.step.wake, delay)
    for child in step.start:
        run.step.children.append((node_id, attempt, child))
        _event(run, ev.CHILD_STARTED, node_id=node_id, child_id=child["id"], label=child["label"])
    return []


def apply_child(c: Coordinator, run: _Run, payload: dict[str, Any]) -> list[Action]:
    """Apply the result of a finished child execution to its waiting node."""
    node_id, attempt = payload["node_id"], payload["attempt"]
    rec = run.record.nodes.get(node_id)
    if rec is None or rec.attempts != attempt or rec.state is not NodeState.WAITING:
        return []
    if rec.wait is None or run.record.state.terminal:
        return []
    result = ChildResult(
        payload.get("label", ""),
        payload["state"],
        payload.get("output"),
        payload.get("error"),
        payload["child"],
    )
    ctx = _ctx(c, run, node_id, attempt)
    step = composite.child_done(
        _executor(c, run, node_id),
        ctx,
        rec.wait,
        payload["child"],
        result,
        run.now,
        run.cfg.max_depth,
    )
    if step is None:
        return []
    _event(
        run,
        ev.CHILD_FINISHED,
        node_id=node_id,
        child_id=payload["child"],
        label=result.label,
        state=result.state,
        error=result.error,
    )
    return _carry_out(run, node_id, attempt, step)


def check_waits(c: Coordinator, run: _Run, reconcile: bool) -> list[Action]:
    """Waits whose deadline passed; on a reconcile pass, also children that were never
    created or that ended without telling this execution."""
    actions: list[Action] = []
    if run.record.state.terminal:
        return actions
    for node_id, rec in run.record.nodes.items():
        if rec.state is not NodeState.WAITING or rec.wait is None:
            continue
        due = composite.next_deadline(rec.wait)
        if due is not None and run.now >= due:
            ctx = _ctx(c, run, node_id, rec.attempts)
            step = composite.expired(
                _executor(c, run, node_id), ctx, rec.wait, run.now, run.cfg.max_depth
            )
            if step is not None:
                actions += _carry_out(run, node_id, rec.attempts, step)
                continue
        if reconcile:
            for child in rec.wait["children"]:
                if child["status"] == "running":
                    _repair(c, run, node_id, rec.attempts, child)
    return actions


def _repair(c: Coordinator, run: _Run, node_id: str, attempt: int, child: dict[str, Any]) -> None:
    cid = child["id"]
    state, _ = c.store.status(cid)
    if state is None:
        log.warning("execution %s: creating lost child execution %s", run.eid, cid)
        start_child(c, run.eid, run.definition, run.record, run.cfg, node_id, attempt, child)
    elif ExecutionState(state).terminal:
        notify_parent(c, cid, ExecutionRecord.from_dict(c.store.load(cid).record, {}))


def start_child(
    c: Coordinator,
    eid: str,
    definition: Any,
    record: ExecutionRecord,
    cfg: ExecutionConfig,
    node_id: str,
    attempt: int,
    child: dict[str, Any],
) -> None:
    """Create and start one child execution (nothing if it exists already)."""
    cid = child["id"]
    if c.store.exists(cid):
        return
    state, cancel = c.store.status(eid)
    if state is None or cancel is not None or ExecutionState(state).terminal:
        return  # the parent ended (or is being cancelled) since the step was committed
    link = {
        "execution_id": eid,
        "node_id": node_id,
        "attempt": attempt,
        "child": cid,
        "label": child["label"],
    }
    try:
        c.submit(
            definition.resolve(child["ref"]),
            child["inputs"],
            cfg.for_child(),
            execution_id=cid,
            parent=link,
            depth=record.depth + 1,
            paused=record.state is ExecutionState.PAUSED,
        )
    except (WorkflowError, ConfigError) as e:  # the sub-workflow itself is wrong: a failure
        if c.store.exists(cid):
            return  # created meanwhile by another process
        result = {
            "child": cid,
            "node_id": node_id,
            "attempt": attempt,
            "label": child["label"],
            "state": "failed",
            "output": None,
            "error": f"cannot start {child['label']}: {e}",
        }
        if c.store.child_finished(eid, cid, result):
            c.dispatcher.start(eid)
    except Exception:  # Redis or the broker failed: the reconciler creates it later
        log.warning("execution %s: cannot start child %s yet", eid, cid, exc_info=True)


def after_commit(c: Coordinator, eid: str, workflow_hash: str, step: _Step) -> None:
    """After a committed step: cancel and start children, tell a parent the end."""
    for cid in step.cancel_children:
        with contextlib.suppress(OxifyError):  # never created, or gone
            c.cancel(cid, "parent cancelled it")
    if step.children:
        definition = c.definition(eid, workflow_hash)[0]
        record = ExecutionRecord.from_dict(step.commit.record, {})
        cfg = ExecutionConfig(**step.commit.record.get("config", {}))
        for node_id, attempt, child in step.children:
            start_child(c, eid, definition, record, cfg, node_id, attempt, child)
    if step.wake is not None:
        c.dispatcher.start(eid, step.wake)
    if step.commit.terminal and step.commit.record.get("parent"):
        notify_parent(c, eid, ExecutionRecord.from_dict(step.commit.record, {}))


def notify_parent(c: Coordinator, eid: str, record: ExecutionRecord) -> None:
    """A child execution ended: record its result on its parent and wake the parent."""
    parent = record.parent
    if parent is None:
        return
    output: Any = None
    if record.state is ExecutionState.COMPLETED:
        output = c.result(eid).outputs
    state = {
        ExecutionState.COMPLETED: "completed",
        ExecutionState.CANCELLED: "cancelled",
    }.get(record.state, "failed")
    result = {
        "child": eid,
        "node_id": parent["node_id"],
        "attempt": parent["attempt"],
        "label": parent.get("label", ""),
        "state": state,
        "output": output,
        "error": record.error,
    }
    if c.store.child_finished(parent["execution_id"], eid, result):
        c.dispatcher.start(parent["execution_id"])
