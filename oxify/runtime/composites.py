"""Composite nodes in the driver: begin, child results and deadlines inside the step;
child executions created, signalled and reported after the commit.

A composite node (Loop, TryCatch, SubWorkflow, Parallel) steps inside the driver's step,
like IfElse: its logic (:mod:`oxify.nodes.composite`) is pure, so a step retried after a
lost compare-and-set gives the same answer. When it spawns children, the node's wait is
committed in the record first; only then are the children created — with ids unique per
attempt and deterministic, so creating one twice is harmless — and started. A child that
ends records its result on its parent once (:meth:`StateStore.child_finished`) and wakes it;
the parent's next step applies it. A child checks its parent on its first step and ends at
once if the parent ended or is being cancelled (see :meth:`Driver._begin`).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Literal

from oxify import events as ev
from oxify.engine.describe import node_started
from oxify.engine.machine import Action, RunNode
from oxify.engine.state import ExecutionRecord, ExecutionState, NodeState
from oxify.engine.waits import ChildEntry
from oxify.errors import ConfigError, OxifyError, WorkflowError
from oxify.nodes import composite
from oxify.nodes.attempt import failure_of, settle
from oxify.nodes.base import NodeContext
from oxify.nodes.composite import ChildResult, CompositeExecutor, CompositeStep
from oxify.runtime.context import node_context
from oxify.store.base import ChildOutcome

if TYPE_CHECKING:
    from oxify.runtime.driver import Repairs, Step
    from oxify.runtime.runtime import Runtime

log = logging.getLogger("oxify.driver")


def _ctx(rt: Runtime, st: Step, node_id: str, attempt: int) -> NodeContext:
    return node_context(
        rt.store,
        st.execution_id,
        st.prepared,
        node_id,
        attempt,
        st.record.inputs,
        overlay=st.overlay,
        depth=st.record.depth,
    )


def _executor(rt: Runtime, st: Step, node_id: str) -> CompositeExecutor:
    spec = rt.registry.resolve(st.workflow.nodes_by_id[node_id])
    if spec.composite is None:
        raise ConfigError(f"the executor registered for node {node_id} is not a composite")
    return spec.composite


def _budget(rt: Runtime, st: Step) -> int | None:
    return st.config.max_concurrent_nodes if rt.options.cap_children else None


def begin(rt: Runtime, st: Step, action: RunNode) -> list[Action]:
    """Start an attempt of a composite node, in the step."""
    record, node_id = st.record, action.node_id
    if not st.machine.node_started(record, node_id, action.attempt, st.now):
        return []
    type_, data = node_started(st.workflow, node_id, action.attempt)
    st.event(type_, **data)
    try:
        executor = _executor(rt, st, node_id)
    except OxifyError as e:
        step = CompositeStep(failure=failure_of(e))
    else:
        ctx = _ctx(rt, st, node_id, action.attempt)
        step = composite.begin(
            executor, ctx, st.now, st.config.max_depth, max_running=_budget(rt, st)
        )
    return carry_out(st, node_id, action.attempt, step)


def carry_out(st: Step, node_id: str, attempt: int, step: CompositeStep) -> list[Action]:
    """What a composite step means for the node: finished, or (still) waiting for children
    to start (after the commit) and deadlines to watch."""
    record, machine = st.record, st.machine
    rec = record.nodes[node_id]
    st.effects.cancel_children += step.cancel
    st.changed = True
    if step.wait is None:
        rec.wait = None
        if step.failure is not None:
            return machine.node_failed(record, node_id, attempt, step.failure, st.now)
        output, _, failure = settle(step.output, None)
        if failure is not None:
            return machine.node_failed(record, node_id, attempt, failure, st.now)
        st.overlay[node_id] = output
        return machine.node_succeeded(record, node_id, attempt, output, st.now)
    if rec.state is not NodeState.WAITING:
        machine.node_waiting(record, node_id, attempt)
        st.event(ev.NODE_WAITING, node_id=node_id, name=st.workflow.nodes_by_id[node_id].name)
    new_wait = rec.wait is None or rec.wait.seq != step.wait.seq
    rec.wait = step.wait
    due = step.wait.next_deadline()
    if due is not None and new_wait:  # one wake-up per wait (the reconciler backs it up)
        st.effects.wake_in(max(0.0, due - st.now) + 0.05)
    for child in step.start:
        st.effects.start_children.append((node_id, attempt, child))
        st.event(ev.CHILD_STARTED, node_id=node_id, child_id=child.id, label=child.label)
    return []


def apply_child(rt: Runtime, st: Step, outcome: ChildOutcome) -> list[Action]:
    """Apply the result of a child execution that ended to its waiting node."""
    rec = st.record.nodes.get(outcome.node_id)
    if rec is None or rec.attempts != outcome.attempt or rec.state is not NodeState.WAITING:
        return []
    if rec.wait is None or st.record.state.terminal:
        return []
    result = ChildResult(outcome.label, outcome.state, outcome.output, outcome.error, outcome.child)
    step = composite.child_done(
        _executor(rt, st, outcome.node_id),
        _ctx(rt, st, outcome.node_id, outcome.attempt),
        rec.wait,
        outcome.child,
        result,
        st.now,
        st.config.max_depth,
        max_running=_budget(rt, st),
    )
    if step is None:
        return []
    st.event(
        ev.CHILD_FINISHED,
        node_id=outcome.node_id,
        child_id=outcome.child,
        label=result.label,
        state=result.state,
        error=result.error,
    )
    return carry_out(st, outcome.node_id, outcome.attempt, step)


def check_waits(rt: Runtime, st: Step, repairs: Repairs | None) -> list[Action]:
    """Waits whose deadline passed; with ``repairs``, also the children of each wait."""
    actions: list[Action] = []
    if st.record.state.terminal:
        return actions
    for node_id in st.prepared.composites:
        rec = st.record.nodes[node_id]
        if rec.state is not NodeState.WAITING or rec.wait is None:
            continue
        due = rec.wait.next_deadline()
        if due is not None and st.now >= due:
            step = composite.expired(
                _executor(rt, st, node_id),
                _ctx(rt, st, node_id, rec.attempts),
                rec.wait,
                st.now,
                st.config.max_depth,
                max_running=_budget(rt, st),
            )
            if step is not None:
                actions += carry_out(st, node_id, rec.attempts, step)
                continue
        if repairs is not None:
            for child in rec.wait.running():
                repairs.check_child(st, node_id, rec.attempts, child)
    return actions


def running_children(st: Step) -> list[str]:
    """The ids of the child executions the waiting nodes of the step's record still run."""
    nodes = st.record.nodes
    return [
        child.id
        for node_id in st.prepared.composites
        if (wait := nodes[node_id].wait) is not None
        for child in wait.running()
    ]


def after_commit(rt: Runtime, st: Step) -> None:
    """Signal and create child executions, as the committed step decided."""
    effects = st.effects
    producer = rt.producer
    for cid in effects.cancel_children:
        with contextlib.suppress(OxifyError):  # never created, or gone
            producer.cancel(cid, "parent cancelled it")
    for cid in effects.pause_children:
        with contextlib.suppress(OxifyError):
            producer.pause(cid, "parent paused")
    for cid in effects.resume_children:
        with contextlib.suppress(OxifyError):
            producer.unpause(cid)
    for node_id, attempt, child in effects.start_children:
        start_child(rt, st.execution_id, st.record, node_id, attempt, child)


def start_child(
    rt: Runtime,
    parent_id: str,
    record: ExecutionRecord,
    node_id: str,
    attempt: int,
    child: ChildEntry,
) -> None:
    """Create and start one child execution (nothing if it exists already). A child whose
    sub-workflow is wrong fails at once; one that cannot be created for a transient reason
    (the store, the broker) is left to the reconciler, which creates it later."""
    if rt.store.exists(child.id):
        return
    try:
        definition = rt.definitions.get(parent_id, record.workflow_hash).definition
        rt.producer.create_child(
            definition.resolve(child.ref),
            child.inputs,
            record,
            node_id,
            attempt,
            child,
        )
    except (WorkflowError, ConfigError) as e:  # the sub-workflow itself is wrong: a failure
        if rt.store.exists(child.id):
            return  # created meanwhile by another process
        error = f"cannot start {child.label}: {e}"
        failed = ChildOutcome(child.id, node_id, attempt, child.label, "failed", None, error)
        if rt.store.child_finished(parent_id, failed):
            rt.dispatcher.start(parent_id)
    except Exception:  # the store or the broker failed: the reconciler creates it later
        log.warning("execution %s: cannot start child %s yet", parent_id, child.id, exc_info=True)


def notify_parent(rt: Runtime, record: ExecutionRecord) -> None:
    """A child execution ended: record its result on its parent and wake the parent."""
    parent = record.parent
    if parent is None:
        return
    output = None
    state: Literal["completed", "failed", "cancelled"] = "failed"
    if record.state is ExecutionState.COMPLETED:
        output = rt.producer.result(record.execution_id).outputs
        state = "completed"
    elif record.state is ExecutionState.CANCELLED:
        state = "cancelled"
    outcome = ChildOutcome(
        record.execution_id,
        parent.node_id,
        parent.attempt,
        parent.label,
        state,
        output,
        record.error,
    )
    if rt.store.child_finished(parent.execution_id, outcome):
        rt.dispatcher.start(parent.execution_id)
