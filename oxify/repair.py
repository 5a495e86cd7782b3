"""Repairs a reconcile pass makes to a distributed execution, and the attempts a resumed
(unpaused) execution sends again: lost workers (an expired lease becomes a new attempt),
lost messages (an attempt nobody claimed within the dispatch timeout is sent again)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from oxify.dispatch import NodeTask
from oxify.engine.machine import Action, RunNode
from oxify.engine.state import ExecutionState, NodeState

if TYPE_CHECKING:
    from oxify.coordinator import Coordinator, _Run

log = logging.getLogger("oxify.coordinator")


def runs_here(c: Coordinator, run: _Run, node_id: str) -> bool:
    """Whether the orchestrator runs this node itself (inline and composite nodes)."""
    try:
        spec = c.registry.resolve(run.workflow.nodes_by_id[node_id])
    except Exception:
        return False  # a worker reports the missing executor
    return spec.inline or spec.composite is not None


def held_tasks(c: Coordinator, run: _Run) -> list[NodeTask]:
    """The queued attempts a resumed (unpaused) execution sends to the workers: those held
    while it was paused (inline and composite nodes held then are run by :func:`due_here`)."""
    claims = c.store.claims(run.eid)
    tasks: list[NodeTask] = []
    for node_id, rec in run.record.nodes.items():
        claim = claims.get(node_id)
        if rec.state is not NodeState.QUEUED or runs_here(c, run, node_id):
            continue
        if claim is not None and claim.attempt == rec.attempts:
            continue
        tasks.append(c._task(run.workflow, node_id, rec.attempts, 0.0, notify=True))
    return tasks


def due_here(c: Coordinator, run: _Run) -> list[RunNode]:
    """Queued attempts of inline and composite nodes whose retry delay has passed (they are
    not sent to workers: the step that finds them due runs them)."""
    if run.record.state is not ExecutionState.RUNNING:
        return []
    queued = [n for n, r in run.record.nodes.items() if r.state is NodeState.QUEUED]
    local = [n for n in queued if runs_here(c, run, n)]
    if not local:
        return []
    dispatched = c.store.dispatched(run.eid)
    out = []
    for node_id in local:
        sent = dispatched.get(node_id)
        attempt = run.record.nodes[node_id].attempts
        if sent is not None and sent.attempt == attempt and sent.due <= run.now:
            out.append(RunNode(node_id, attempt))
    return out


def lost_work(
    c: Coordinator, run: _Run, consumed: list[tuple[str, int]], resend: list[NodeTask]
) -> list[Action]:
    """Lost workers (lease expired) and lost messages (nobody claimed in time)."""
    eid, workflow, machine, record, now = (
        run.eid,
        run.workflow,
        run.machine,
        run.record,
        run.now,
    )
    done = {n for n, _ in consumed}
    claims = c.store.claims(eid)
    dispatched = c.store.dispatched(eid)
    actions: list[Action] = []
    paused = record.state is ExecutionState.PAUSED
    for node_id, rec in record.nodes.items():
        if rec.state is not NodeState.QUEUED or node_id in done:
            continue
        claim = claims.get(node_id)
        if claim is not None and claim.attempt == rec.attempts:
            if claim.lease_until < now:
                log.warning("execution %s: worker %s lost node %s", eid, claim.worker, node_id)
                actions += machine.node_lost(record, node_id, rec.attempts, now)
            continue
        if runs_here(c, run, node_id):
            continue  # never sent to a worker: due_here runs it
        sent = dispatched.get(node_id)
        if (
            not paused
            and sent is not None
            and sent.attempt == rec.attempts
            and now - sent.due > c.dispatch_timeout
        ):
            log.warning("execution %s: re-sending node %s attempt %d", eid, node_id, rec.attempts)
            resend.append(c._task(workflow, node_id, rec.attempts, 0.0, notify=True))
    return actions
