"""Resume and replay, for every store.

- **Resume** continues the same execution: a paused one goes on; a failed or cancelled one
  starts again from its newest checkpoint (or one asked for; without checkpoints, from
  where it stopped): nodes that succeeded (or were rightly skipped) keep their state and
  output; failed, cancelled and unfinished nodes, and what is downstream of them, run again,
  with attempt numbers above any they reached (the run before is fenced off). It is one
  atomic *reset* commit: outputs replaced, the run before's claims, outcomes and dispatched
  attempts dropped, flags cleared, a finished execution's retention lifted.
- **Replay** starts a new execution from a recorded one: every node not downstream of the
  chosen node reuses its recorded output (no LLM or tool call is made again); the chosen
  node and everything downstream of it run again. It is created, atomically, with the
  reused outputs stored already.

Both leave a ``pending`` record that carries a ``restart`` list: the next step restarts the
execution from it (:meth:`~oxify.engine.machine.Machine.restart`).

An execution is pinned to the hash of its definition. Resuming or replaying with a changed
definition is refused unless ``allow_changed``; then nodes whose definition changed run
again too (and everything downstream of them), as do nodes that are new.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from oxify import events as ev
from oxify.engine.describe import workflow_started
from oxify.engine.jsonvalues import json_inputs
from oxify.engine.machine import Machine, make_machine
from oxify.engine.options import ExecutionConfig
from oxify.engine.state import ExecutionRecord, ExecutionState, NodeRecord, NodeTable
from oxify.engine.validate import ensure_valid
from oxify.errors import ExecutionError
from oxify.model.definition import Definition
from oxify.model.workflow import Workflow
from oxify.store.base import Commit, NewEvent, Snapshot
from oxify.store.checkpoints import pick

if TYPE_CHECKING:
    from oxify.runtime.runtime import Runtime


def check_pinned(
    execution_id: str, pinned: str, definition: Definition, allow_changed: bool
) -> None:
    """Refuse a definition whose hash differs from the pinned one (unless allowed)."""
    if definition.hash == pinned or allow_changed:
        return
    raise ExecutionError(
        f"execution {execution_id} is pinned to workflow definition {pinned[:12]}, but the "
        f"workflow given is {definition.hash[:12]} (it changed since the execution started); "
        "pass --allow-changed (allow_changed=True) to go on with the changed definition"
    )


def find_node(workflow: Workflow, ref: str) -> str:
    """A node id from an id or a unique name; a clear error otherwise."""
    if ref in workflow.nodes_by_id:
        return ref
    matches = [n.id for n in workflow.nodes if n.name == ref]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ExecutionError(f"several nodes are named '{ref}'; give the node id")
    names = ", ".join(n.name for n in workflow.nodes)
    raise ExecutionError(f"no node '{ref}' in workflow {workflow.name} (nodes: {names})")


def _node_doc(workflow: Workflow, node_id: str) -> str:
    node = workflow.nodes_by_id[node_id]
    doc = node.model_dump(mode="json", by_alias=True, exclude={"name"})
    preds = sorted(e.source for e in workflow.edges if e.target == node_id)
    return json.dumps([doc, preds], sort_keys=True)


def rebuild(
    machine: Machine,
    execution_id: str,
    saved_workflow: Workflow,
    saved: Mapping[str, Any],
    inputs: dict[str, Any],
    latest: ExecutionRecord | None = None,
) -> tuple[ExecutionRecord, set[str]]:
    """A record for ``machine``'s workflow carrying over what ``saved`` (a record in plain
    data) recorded — holding every node, so that a commit writes them all — and the nodes
    that must run again because their definition changed (none when it is the same).

    ``latest`` (a resume) is the execution as it stands: no node's attempt number falls
    below the one it reached there, so an attempt of the resumed run never shares its
    number — its task id, claim and child executions — with one of the run before (which
    may still be working, and whose late report must be refused)."""
    loaded = ExecutionRecord.from_dict(dict(saved), inputs)
    nodes = {n: loaded.nodes[n] for n in loaded.nodes}
    if latest is not None:
        for node_id, rec in nodes.items():
            if node_id in latest.nodes:
                rec.attempts = max(rec.attempts, latest.nodes[node_id].attempts)
    record = _with(loaded, execution_id, nodes)
    workflow = machine.workflow
    if workflow.content_hash == saved_workflow.content_hash:
        return record, set()
    fresh = machine.new_record(execution_id, inputs)
    changed: set[str] = set()
    for node_id in fresh.nodes:
        old = nodes.get(node_id)
        if old is None or node_id not in saved_workflow.nodes_by_id:
            changed.add(node_id)
            continue
        if _node_doc(workflow, node_id) != _node_doc(saved_workflow, node_id):
            changed.add(node_id)
            fresh.nodes[node_id] = NodeRecord(attempts=old.attempts)
            continue
        fresh.nodes[node_id] = old
    fresh.parent, fresh.depth = record.parent, record.depth
    fresh.started_at = record.started_at
    fresh.failed_nodes = [n for n in record.failed_nodes if n in fresh.nodes]
    fresh.config = record.config
    return fresh, changed


def _with(
    record: ExecutionRecord, execution_id: str, nodes: dict[str, NodeRecord]
) -> ExecutionRecord:
    return replace(record, execution_id=execution_id, nodes=NodeTable.of(nodes))


@dataclass(frozen=True, slots=True)
class _Restart:
    """What a resume or a replay starts from."""

    definition: Definition
    """The definition to go on with (the pinned one, or a changed one if allowed)."""
    record: ExecutionRecord
    """``pending``, with its ``restart`` list."""
    outputs: dict[str, Any]
    """The recorded outputs that stand (of nodes that do not run again)."""
    checkpoint_id: str | None
    config: ExecutionConfig


def _restart(
    rt: Runtime,
    execution_id: str,
    new_id: str,
    snap: Snapshot,
    definition: Definition | None,
    allow_changed: bool,
    checkpoint: str | None,
    inputs: dict[str, Any],
    from_node: str | None = None,
) -> _Restart:
    store = rt.store
    stored = rt.definitions.get(execution_id, snap.workflow_hash).definition
    target = definition or stored
    check_pinned(execution_id, snap.workflow_hash, target, allow_changed)
    if target is not stored:
        ensure_valid(target.workflow)
    checkpoints = store.checkpoints(execution_id)
    cp_id = None
    if checkpoint is not None or checkpoints:
        cp = pick(checkpoints, execution_id, checkpoint)
        if cp.workflow_hash != snap.workflow_hash:
            raise ExecutionError(
                f"checkpoint {cp.id} of execution {execution_id} was taken with workflow "
                f"definition {cp.workflow_hash[:12]}, but the execution is now pinned to "
                f"{snap.workflow_hash[:12]}; resume from a newer checkpoint"
            )
        saved, outputs, cp_id = cp.record, store.checkpoint_outputs(execution_id, cp), cp.id
    else:
        saved, outputs = snap.record.to_dict(), store.outputs(execution_id)
    cfg = snap.record.config
    machine = make_machine(target.workflow, rt.definitions.remember(target).plan, cfg)
    resumed = new_id == execution_id
    latest = snap.record if resumed else None
    record, changed = rebuild(machine, new_id, stored.workflow, saved, inputs, latest)
    rerun = set(changed)
    if from_node is not None:
        rerun.add(find_node(target.workflow, from_node))
    redo = machine.restart_set(record, rerun)
    if not resumed:  # a new execution: the nodes that run again count from 1
        for node_id in redo:
            record.nodes[node_id].attempts = 0
    record.state = ExecutionState.PENDING
    record.workflow_hash = target.hash
    record.error, record.finished_at = None, None
    record.restart = sorted(rerun)
    kept = {n: v for n, v in outputs.items() if n in record.nodes and n not in redo}
    return _Restart(target, record, kept, cp_id, cfg)


def resume(
    rt: Runtime,
    execution_id: str,
    checkpoint: str | None = None,
    definition: Definition | None = None,
    allow_changed: bool = False,
) -> None:
    """A paused execution goes on; a failed or cancelled one continues from its newest
    checkpoint (or ``checkpoint``; without checkpoints, from where it stopped)."""
    store = rt.store
    snap = store.load(execution_id)
    state = snap.record.state
    plain = checkpoint is None and definition is None
    if plain and (state is ExecutionState.PAUSED or snap.pause is not None):
        rt.producer.unpause(execution_id)
        return
    if not state.terminal:
        raise ExecutionError(
            f"execution {execution_id} is {state.value}: only a paused, failed or cancelled "
            "execution can be resumed (cancel it first to restart it from a checkpoint)"
        )
    if state is ExecutionState.COMPLETED and checkpoint is None:
        raise ExecutionError(
            f"execution {execution_id} completed: there is nothing to resume (replay runs "
            "parts of it again, or resume from an earlier --checkpoint)"
        )
    restart = _restart(
        rt,
        execution_id,
        execution_id,
        snap,
        definition,
        allow_changed,
        checkpoint,
        snap.record.inputs,
    )
    event = NewEvent(
        ev.WORKFLOW_RESUMED,
        {"checkpoint_id": restart.checkpoint_id, "rerun": restart.record.restart},
        time.time(),
    )
    now = store.now()
    timeout = restart.config.timeout
    changed = restart.definition if restart.definition.hash != snap.workflow_hash else None
    commit = Commit(
        record=restart.record,
        outputs=restart.outputs,
        events=[event],
        reset=True,
        deadline=None if timeout is None else now + timeout,
        definition=changed,
    )
    events = store.commit(execution_id, snap.version, commit, rt.options.result_ttl)
    if events is None:
        raise ExecutionError(
            f"execution {execution_id} changed while it was being resumed; try again"
        )
    rt.events.published(execution_id, events)
    rt.dispatcher.start(execution_id)


def replay(
    rt: Runtime,
    execution_id: str,
    from_node: str,
    inputs: Mapping[str, Any] | None,
    checkpoint: str | None,
    definition: Definition | None,
    allow_changed: bool,
    new_execution_id: str,
) -> str:
    """Start a new execution that reuses every recorded output not downstream of
    ``from_node`` and runs ``from_node`` and its descendants again; ``inputs`` update the
    recorded inputs. Returns the new execution's id."""
    snap = rt.store.load(execution_id)
    merged = json_inputs({**snap.record.inputs, **dict(inputs or {})})
    restart = _restart(
        rt,
        execution_id,
        new_execution_id,
        snap,
        definition,
        allow_changed,
        checkpoint,
        merged,
        from_node,
    )
    record = restart.record
    record.started_at = None
    record.parent, record.depth = None, 0
    type_, data = workflow_started(restart.definition.workflow, restart.config.mode)
    start = find_node(restart.definition.workflow, from_node)
    data = {**data, "replay_of": execution_id, "from_node": start}
    new = rt.producer.new_execution(
        restart.definition, record, [NewEvent(type_, data, time.time())], restart.outputs
    )
    rt.producer.create(new)
    return new_execution_id
