"""Resume and replay of distributed executions (see :mod:`oxify.durable` for the rules).

Both write a record in the ``pending`` state that carries a ``restart`` list: the next
orchestration step restarts the execution from it (:meth:`Machine.restart`) instead of
starting it afresh. Resume rewrites the execution itself in one atomic commit (outputs of
the nodes that run again are dropped, the cancel/pause requests cleared, a finished
execution's keys stop expiring); replay creates a new execution, atomically, with the
reused outputs already stored.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oxify import events as ev
from oxify.checkpoints import CheckpointPolicy, pick, progress
from oxify.definition import Definition
from oxify.dispatch import event_dict
from oxify.durable import (
    check_pinned,
    count_afresh,
    find_node,
    rebuild,
    reusable_outputs,
    same_definition,
)
from oxify.engine.describe import workflow_started
from oxify.engine.machine import Action, ExecutionPaused
from oxify.engine.plan import build_plan
from oxify.engine.state import ExecutionRecord, ExecutionState
from oxify.engine.validate import ensure_valid
from oxify.errors import ExecutionError
from oxify.execution import ExecutionConfig, make_machine
from oxify.model.io import workflow_to_data
from oxify.store.base import CheckpointRequest, Commit, Snapshot

if TYPE_CHECKING:
    from oxify.coordinator import Coordinator, _Run


def _source(
    c: Coordinator, eid: str, snap: Snapshot, checkpoint: str | None
) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """The record and outputs to start again from: a checkpoint when one is asked for or
    exists, else the execution as it stands (its outputs are all stored anyway)."""
    checkpoints = c.store.checkpoints(eid)
    if checkpoint is not None or checkpoints:
        cp = pick(checkpoints, eid, checkpoint)
        same_definition(eid, cp.id, cp.workflow_hash, snap.workflow_hash)
        return cp.record, c.store.checkpoint_outputs(eid, cp), cp.id
    return snap.record, c.store.outputs(eid), None


def _rebuilt(
    c: Coordinator,
    eid: str,
    new_eid: str,
    snap: Snapshot,
    definition: Definition | None,
    allow_changed: bool,
    checkpoint: str | None,
    inputs: dict[str, Any],
    rerun: set[str] | None = None,
    from_node: str | None = None,
) -> tuple[Definition, ExecutionRecord, list[str], dict[str, Any], str | None, ExecutionConfig]:
    stored = c.definition(eid, snap.workflow_hash)[0]
    target = definition or stored
    check_pinned(eid, snap.workflow_hash, target, allow_changed)
    if target is not stored:
        ensure_valid(target.workflow)
    saved, outputs, cp_id = _source(c, eid, snap, checkpoint)
    cfg = ExecutionConfig(**snap.record.get("config", {}))
    machine = make_machine(target.workflow, build_plan(target.workflow), cfg)
    latest = snap.record if new_eid == eid else None
    record, changed = rebuild(machine, new_eid, stored.workflow, saved, outputs, inputs, latest)
    redo_from = set(changed) | (rerun or set())
    if from_node is not None:
        redo_from.add(find_node(target.workflow, from_node))
    if new_eid != eid:
        redo = count_afresh(machine, record, redo_from)
    else:
        redo = machine.restart_set(record, redo_from)
    kept = {n: v for n, v in reusable_outputs(record).items() if n not in redo}
    record.state = ExecutionState.PENDING
    record.workflow_hash = target.hash
    record.error, record.finished_at = None, None
    return target, record, sorted(redo_from), kept, cp_id, cfg


def resume(
    c: Coordinator,
    eid: str,
    checkpoint: str | None = None,
    definition: Definition | None = None,
    allow_changed: bool = False,
) -> None:
    """A paused execution goes on; a failed or cancelled one continues from its newest
    checkpoint (or ``checkpoint``; without checkpoints, from where it stopped)."""
    snap = c.store.load(eid)
    state = ExecutionState(snap.record["state"])
    if (
        checkpoint is None
        and definition is None
        and (state is ExecutionState.PAUSED or snap.pause is not None)
    ):
        c.unpause(eid)
        return
    if not state.terminal:
        raise ExecutionError(
            f"execution {eid} is {state.value}: only a paused, failed or cancelled execution "
            "can be resumed (cancel it first to restart it from a checkpoint)"
        )
    if state is ExecutionState.COMPLETED and checkpoint is None:
        raise ExecutionError(
            f"execution {eid} completed: there is nothing to resume (replay runs parts of it "
            "again, or resume from an earlier --checkpoint)"
        )
    target, record, rerun, kept, cp_id, cfg = _rebuilt(
        c, eid, eid, snap, definition, allow_changed, checkpoint, snap.inputs
    )
    data = record.to_dict(with_outputs=False)
    data["config"] = snap.record.get("config", {})
    data["restart"] = rerun
    from oxify.coordinator import _dumps

    event = event_dict(
        ev.WORKFLOW_RESUMED,
        eid,
        record.workflow_id,
        {"checkpoint_id": cp_id, "rerun": rerun},
    )
    now = c.store.now()
    changed = None
    if target.hash != snap.workflow_hash:
        library = target.library_data()
        changed = (
            _dumps(workflow_to_data(target.workflow)),
            _dumps(library) if library else "",
            target.hash,
        )
    commit = Commit(
        record=data,
        state=ExecutionState.PENDING.value,
        outputs=kept,
        events=[event],
        reset=True,
        deadline=None if cfg.timeout is None else now + cfg.timeout,
        definition=changed,
    )
    if not c.store.commit(eid, snap.version, commit, c.result_ttl):
        raise ExecutionError(f"execution {eid} changed while it was being resumed; try again")
    if changed is not None:
        c._remember(target.hash, target)
    c.dispatcher.start(eid)


def replay(
    c: Coordinator,
    eid: str,
    from_node: str,
    inputs: Mapping[str, Any] | None = None,
    checkpoint: str | None = None,
    definition: Definition | None = None,
    allow_changed: bool = False,
    new_execution_id: str | None = None,
) -> str:
    """Start a new execution that reuses every recorded output not downstream of
    ``from_node`` and runs ``from_node`` and its descendants again."""
    snap = c.store.load(eid)
    merged = json.loads(json.dumps({**snap.inputs, **dict(inputs or {})}))
    new_eid = new_execution_id or str(uuid.uuid4())
    target, record, rerun, kept, _, cfg = _rebuilt(
        c, eid, new_eid, snap, definition, allow_changed, checkpoint, merged, from_node=from_node
    )
    record.started_at = None
    record.parent, record.depth = None, 0
    type_, payload = workflow_started(target.workflow, cfg.mode)
    payload = {**payload, "replay_of": eid, "from_node": find_node(target.workflow, from_node)}
    events = [event_dict(type_, new_eid, record.workflow_id, payload)]
    new = c._new_execution(target, record, cfg, events, outputs=kept, restart=rerun)
    c.store.create(new)
    c.dispatcher.start(new_eid)
    return new_eid


def checkpoint_request(
    run: _Run, snap: Snapshot, actions: list[Action], data: dict[str, Any]
) -> CheckpointRequest | None:
    policy = CheckpointPolicy.parse(run.cfg.checkpoint_frequency)
    if not policy.enabled:
        return None
    record = run.record
    if record.state.terminal:
        reason = record.state.value
    elif any(isinstance(a, ExecutionPaused) for a in actions):
        reason = "paused"
    elif policy.due(progress(snap.record), progress(data)):
        reason = "automatic"
    else:
        return None
    event = event_dict(
        ev.CHECKPOINT_CREATED,
        run.eid,
        record.workflow_id,
        {
            "checkpoint_id": "__CHECKPOINT_ID__",
            "reason": reason,
            "level": record.current_level,
            "completed_nodes": record.finished_count,
        },
    )
    return CheckpointRequest(reason, snap.now, snap.workflow_hash, run.cfg.max_checkpoints, event)
