"""The StateStore contract for durable executions, on every store (the same parametrized
``store`` fixture as :mod:`tests.contract.test_store`): the definition (with its sub-workflow
library) and outputs given at creation, pause requests, child executions, checkpoints taken
in a commit, resets (a resume), re-pinning the definition, and bringing an execution back
into a new MemoryStore from its checkpoint store."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from oxify.engine.state import ExecutionState, NodeRecord, NodeState, ParentLink
from oxify.errors import ExecutionError
from oxify.model.definition import Definition
from oxify.store import MemoryStore
from oxify.store.base import (
    CheckpointRequest,
    ChildOutcome,
    Commit,
    Dispatched,
    NewEvent,
    Outcome,
)
from oxify.store.checkpoints import FileCheckpointStore
from tests.contract import test_store as contract
from tests.contract.test_store import (
    CONFIG,
    DEFINITION,
    INPUTS,
    WORKFLOW_ID,
    _claim,
    _commit,
    _dispatch,
    _event,
    _execution,
    _id,
    _new,
    _record,
    _same_definition,
    _workflow,
    redis_only,
)

if TYPE_CHECKING:
    from oxify.store.checkpoints import Checkpoint
    from tests.contract.test_store import Store

store = contract.store
"""Every test runs against the MemoryStore and the RedisStore (its keys are cleaned up)."""

BIG = "b" * 3000
"""An output larger than the Redis store's inline limit: stored there once, by hash."""
LIBRARY = {"lib/child.json": _workflow("child", "c")}
V2 = Definition(_workflow("v2", "a"), LIBRARY)
"""Another definition (another workflow, with a library of sub-workflows)."""
TERMINAL = ("completed", "failed", "cancelled")


def _nodes(step: int) -> dict[str, NodeRecord]:
    return {"n": NodeRecord(NodeState.SUCCEEDED, attempts=step, finished_at=float(step))}


def _checkpointed(
    eid: str,
    step: int,
    outputs: dict[str, Any],
    keep: int = 2,
    announce: bool = True,
    definition: Definition = DEFINITION,
) -> Commit:
    """A commit at ``step`` (the record's level; ``10 * step`` nodes finished) that stores
    ``outputs`` and takes a checkpoint (of an execution pinned to ``definition``)."""
    request = CheckpointRequest(f"step {step}", 1000.5 + step, f"hash{step}", keep, announce)
    record = _record(
        eid,
        definition=definition,
        current_level=step,
        finished_count=10 * step,
        nodes=_nodes(step),
    )
    return Commit(record=record, outputs=outputs, checkpoint=request)


def _checkpoint_record(eid: str, step: int) -> dict[str, Any]:
    """The record a checkpoint taken by ``_checkpointed(eid, step, …)`` holds."""
    return _record(eid, current_level=step, finished_count=10 * step, nodes=_nodes(step)).to_dict()


def _reset(
    eid: str,
    outputs: dict[str, Any] | None = None,
    deadline: float | None = None,
    nodes: dict[str, NodeRecord] | None = None,
    **changes: Any,
) -> Commit:
    return Commit(
        record=_record(eid, nodes=nodes),
        outputs=outputs or {},
        reset=True,
        deadline=deadline,
        **changes,
    )


def _child(child: str, state: Any = "completed", output: Any = None, **fields: Any) -> ChildOutcome:
    """How child execution ``child`` of node ``loop`` (attempt 1) ended."""
    return ChildOutcome(child, "loop", 1, fields.pop("label", "item 0"), state, output, **fields)


def _by_child(children: list[ChildOutcome]) -> dict[str, ChildOutcome]:
    return {c.child: c for c in children}


# -- creation -----------------------------------------------------------------------------------


def test_create_pins_the_definition_with_its_library(store: Store) -> None:
    eid = _new(store, definition=V2)
    pinned = store.definition(eid)
    assert _same_definition(pinned, V2)
    assert set(pinned.library) == {"lib/child.json"}
    assert pinned.resolve("path:lib/child.json").workflow.name == "child"
    assert store.load(eid).workflow_hash == V2.hash != DEFINITION.hash
    plain = store.definition(_new(store))  # none given
    assert _same_definition(plain, DEFINITION) and dict(plain.library) == {}


def test_create_stores_the_outputs_it_is_given(store: Store) -> None:
    small = {"a": [1, 2], "s": "é"}
    big = {"text": BIG}
    eid = _new(store, outputs={"small": small, "big": big})
    assert store.output(eid, "small") == small
    assert store.output(eid, "big") == big
    assert store.outputs(eid) == {"small": small, "big": big}
    with pytest.raises(KeyError):
        store.output(eid, "other")
    assert store.outputs(_new(store)) == {}  # none given


def test_redis_stores_the_outputs_given_at_creation_inline_or_by_hash(store: Store) -> None:
    redis_store = redis_only(store)
    small = {"a": [1, 2], "s": "é"}
    big = {"text": BIG}
    eid = _new(store, outputs={"small": small, "big": big})
    text = json.dumps(big, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()
    fields = redis_store.redis.hgetall(redis_store.key(eid, "outputs"))
    assert fields == {"small": '={"a":[1,2],"s":"é"}', "big": "@" + digest}
    assert redis_store.redis.hgetall(redis_store.key(eid, "blobs")) == {digest: text}


# -- pause requests -----------------------------------------------------------------------------


def test_a_pause_request_stays_until_it_is_cleared(store: Store) -> None:
    eid = _new(store)
    assert store.load(eid).pause is None
    assert not store.clear_pause(eid)  # none requested
    assert store.request_pause(eid, "operator")
    assert not store.request_pause(eid, "again")  # the first reason stays
    assert store.load(eid).pause == "operator"
    assert store.status(eid) == ("running", None)  # a pause is not a cancel
    assert store.clear_pause(eid)
    assert store.load(eid).pause is None
    assert not store.clear_pause(eid)
    assert store.request_pause(eid, "later")  # it can be asked for again
    assert store.load(eid).pause == "later"


def test_a_pause_request_for_an_unknown_execution_is_an_error(store: Store) -> None:
    unknown = _id()
    with pytest.raises(ExecutionError):
        store.request_pause(unknown, "x")
    assert not store.clear_pause(unknown)
    assert not store.exists(unknown)


# -- reports after the execution stopped --------------------------------------------------------


def test_a_paused_execution_takes_the_reports_of_running_attempts_but_no_claim(
    store: Store,
) -> None:
    eid = _new(store)
    dispatched = {"a": Dispatched(1, time.time()), "b": Dispatched(1, time.time())}
    assert store.commit(eid, 0, _commit(eid, dispatched=dispatched), ttl=None) is not None
    assert _claim(store, eid, "a", 1, "w").status == "ok"
    assert store.commit(eid, 1, _commit(eid, "paused"), ttl=None) is not None
    assert store.status(eid) == ("paused", None)
    assert _claim(store, eid, "b", 1, "w").status == "stale"  # nothing new starts
    assert store.report(eid, Outcome("a", 1, True, "done while pausing"), "w")
    assert store.outcomes(eid) == [Outcome("a", 1, True, "done while pausing")]
    assert store.claims(eid) == {}


def test_a_completed_execution_refuses_reports(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert _claim(store, eid, "n", 1, "w").status == "ok"
    assert store.commit(eid, 1, _commit(eid, "completed"), ttl=None) is not None
    assert not store.report(eid, Outcome("n", 1, True, "late"), "w")
    assert store.outcomes(eid) == [] and store.load(eid).outcomes == []


# -- child executions ---------------------------------------------------------------------------


def test_a_finished_child_is_recorded_once(store: Store) -> None:
    parent = _new(store)
    child = _id()
    result = _child(child, "completed", {"x": [1, "é"]}, label="item 3")
    assert store.child_finished(parent, result)
    assert not store.child_finished(parent, _child(child, "failed", error="late"))
    snap = store.load(parent)
    assert snap.children == [result]
    assert snap.outcomes == [] and store.outcomes(parent) == []  # not a node outcome


def test_a_consumed_child_result_is_gone_and_not_recorded_again(store: Store) -> None:
    parent = _new(store)
    first, second = _id(), _id()
    assert store.child_finished(parent, _child(first, output=1))
    assert store.child_finished(parent, _child(second, "failed", error="boom"))
    assert _by_child(store.load(parent).children) == {
        first: _child(first, output=1),
        second: _child(second, "failed", error="boom"),
    }
    commit = _commit(parent, consumed_children=[first])
    assert store.commit(parent, 0, commit, ttl=None) is not None
    assert store.load(parent).children == [_child(second, "failed", error="boom")]
    assert not store.child_finished(parent, _child(first, output=3))  # a redelivery
    assert store.load(parent).children == [_child(second, "failed", error="boom")]


@pytest.mark.parametrize("state", TERMINAL)
def test_a_finished_parent_takes_no_child_result(store: Store, state: str) -> None:
    parent = _new(store)
    assert store.commit(parent, 0, _commit(parent, state), ttl=None) is not None
    assert not store.child_finished(parent, _child(_id()))
    assert store.load(parent).children == []


def test_an_unknown_parent_takes_no_child_result(store: Store) -> None:
    parent = _id()
    assert not store.child_finished(parent, _child(_id()))
    assert not store.exists(parent)


# -- checkpoints --------------------------------------------------------------------------------


def test_checkpoints_keep_the_newest_with_their_record_and_outputs(store: Store) -> None:
    eid = _new(store)
    assert store.checkpoints(eid) == []
    assert store.commit(eid, 0, _checkpointed(eid, 1, {"a": 1}), ttl=None) is not None
    second_step = _checkpointed(eid, 2, {"s": "é", "big": BIG})
    assert store.commit(eid, 1, second_step, ttl=None) is not None
    assert store.commit(eid, 2, _checkpointed(eid, 3, {"c": [1, 2]}), ttl=None) is not None
    kept = store.checkpoints(eid)
    assert [cp.id for cp in kept] == ["2", "3"]  # the newest two, oldest first
    second, third = kept
    assert (second.execution_id, second.reason, second.created_at) == (eid, "step 2", 1002.5)
    assert (third.execution_id, third.reason, third.created_at) == (eid, "step 3", 1003.5)
    assert (second.workflow_hash, third.workflow_hash) == ("hash2", "hash3")
    assert second.record == _checkpoint_record(eid, 2)
    assert third.record == _checkpoint_record(eid, 3)
    assert second.state == "running"
    assert set(second.outputs) == {"a", "s", "big"}
    assert set(third.outputs) == {"a", "s", "big", "c"}
    assert store.checkpoint_outputs(eid, second) == {"a": 1, "s": "é", "big": BIG}
    assert store.checkpoint_outputs(eid, third) == {"a": 1, "s": "é", "big": BIG, "c": [1, 2]}


def test_checkpoint_outputs_are_those_stored_when_it_was_taken(store: Store) -> None:
    eid = _new(store)
    taken = _checkpointed(eid, 1, {"a": 1, "big": BIG})
    assert store.commit(eid, 0, taken, ttl=None) is not None
    later = _commit(eid, nodes=_nodes(1), outputs={"a": 2, "big": "n" * 2000})
    assert store.commit(eid, 1, later, ttl=None) is not None
    (checkpoint,) = store.checkpoints(eid)
    assert store.checkpoint_outputs(eid, checkpoint) == {"a": 1, "big": BIG}
    assert store.outputs(eid) == {"a": 2, "big": "n" * 2000}


def test_a_checkpoint_before_any_output_refers_to_none(store: Store) -> None:
    eid = _new(store)
    assert store.commit(eid, 0, _checkpointed(eid, 1, {}, keep=5), ttl=None) is not None
    (checkpoint,) = store.checkpoints(eid)
    assert checkpoint.id == "1" and checkpoint.outputs == {}
    assert store.checkpoint_outputs(eid, checkpoint) == {}


def test_checkpoint_ids_count_up_and_a_stale_commit_takes_none(store: Store) -> None:
    eid = _new(store)
    assert store.commit(eid, 0, _checkpointed(eid, 1, {}, keep=5), ttl=None) is not None
    stale = _checkpointed(eid, 2, {"x": 1}, keep=5)
    assert store.commit(eid, 0, stale, ttl=None) is None
    assert store.commit(eid, 1, _checkpointed(eid, 3, {}, keep=5), ttl=None) is not None
    kept: list[Checkpoint] = store.checkpoints(eid)
    assert [(cp.id, cp.reason) for cp in kept] == [("1", "step 1"), ("2", "step 3")]
    assert store.outputs(eid) == {}
    assert [e.data["checkpoint_id"] for e in store.events(eid)] == ["1", "2"]


def test_checkpoint_created_events_carry_the_checkpoint_id(store: Store) -> None:
    eid = _new(store)
    first = _checkpointed(eid, 1, {"a": 1})
    first.events = [NewEvent("level.completed", {"level": 0}, 999.0)]
    appended = store.commit(eid, 0, first, ttl=None)
    assert store.commit(eid, 1, _checkpointed(eid, 2, {}), ttl=None) is not None
    last = store.commit(eid, 2, _checkpointed(eid, 3, {}), ttl=None)
    events = store.events(eid)
    assert [(e.seq, e.type) for e in events] == [
        (0, "level.completed"),  # the commit's own events come first
        (1, "checkpoint.created"),
        (2, "checkpoint.created"),
        (3, "checkpoint.created"),
    ]
    assert [e.data for e in events[1:]] == [
        {"checkpoint_id": str(step), "reason": f"step {step}", "level": step}
        | {"completed_nodes": 10 * step}
        for step in (1, 2, 3)
    ]
    assert [e.timestamp for e in events[1:]] == [1001.5, 1002.5, 1003.5]
    assert {(e.execution_id, e.workflow_id) for e in events} == {(eid, WORKFLOW_ID)}
    # a commit returns the events it appended, the checkpoint's with its id, as stored
    assert appended == events[:2] and last == events[3:]
    assert [cp.id for cp in store.checkpoints(eid)] == ["2", "3"]  # the events stay


def test_a_checkpoint_not_announced_appends_no_event(store: Store) -> None:
    eid = _new(store)
    quiet = _checkpointed(eid, 1, {"a": 1}, announce=False)
    quiet.events = [_event(0)]
    appended = store.commit(eid, 0, quiet, ttl=None)
    assert appended is not None and [e.type for e in appended] == ["progress.update"]
    assert store.events(eid) == appended
    (checkpoint,) = store.checkpoints(eid)
    assert checkpoint.reason == "step 1"
    assert store.checkpoint_outputs(eid, checkpoint) == {"a": 1}
    announced = store.commit(eid, 1, _checkpointed(eid, 2, {}), ttl=None)
    assert announced is not None
    assert [(e.seq, e.data["checkpoint_id"]) for e in announced] == [(1, "2")]


# -- reset (a resume) ---------------------------------------------------------------------------


def test_a_reset_replaces_every_stored_output(store: Store) -> None:
    eid = _new(store)
    before = _commit(eid, outputs={"a": 1, "b": BIG, "c": "c"})
    assert store.commit(eid, 0, before, ttl=None) is not None
    assert store.commit(eid, 1, _reset(eid, {"a": 5, "d": {"big": BIG}}), ttl=None) is not None
    assert store.outputs(eid) == {"a": 5, "d": {"big": BIG}}
    for gone in ("b", "c"):
        with pytest.raises(KeyError):
            store.output(eid, gone)
    assert store.commit(eid, 2, _reset(eid), ttl=None) is not None  # no outputs: none left
    assert store.outputs(eid) == {}


def test_a_reset_record_replaces_the_nodes_of_the_run_before(store: Store) -> None:
    old = {
        "a": NodeRecord(NodeState.SUCCEEDED, attempts=1),
        "b": NodeRecord(NodeState.FAILED, attempts=2, error="boom"),
    }
    eid = _new(store, nodes=old)
    fresh = {"a": NodeRecord(NodeState.SUCCEEDED, attempts=1), "c": NodeRecord(attempts=2)}
    assert store.commit(eid, 0, _reset(eid, nodes=fresh), ttl=None) is not None
    snap = store.load(eid)
    assert sorted(snap.record.nodes) == ["a", "c"]  # b is gone (its definition dropped it)
    assert snap.record.to_dict() == _record(eid, nodes=fresh).to_dict()
    # a step goes on with the nodes it reads: the others stay
    snap.record.nodes["c"].state = NodeState.QUEUED
    step = Commit(record=snap.record)
    assert store.commit(eid, snap.version, step, ttl=None) is not None
    assert {n: r.state for n, r in store.load(eid).record.nodes.items()} == {
        "a": NodeState.SUCCEEDED,
        "c": NodeState.QUEUED,
    }


def test_a_reset_clears_the_cancel_and_pause_requests(store: Store) -> None:
    eid = _new(store)
    assert store.request_cancel(eid, "stop")
    assert store.request_pause(eid, "hold")
    dispatched = {"n": Dispatched(1, time.time())}
    assert store.commit(eid, 0, _reset(eid, dispatched=dispatched), ttl=None) is not None
    snap = store.load(eid)
    assert snap.cancel is None and snap.pause is None
    assert store.status(eid) == ("running", None)
    assert _claim(store, eid, "n", 1, "w").status == "ok"  # no longer cancelled
    assert store.request_cancel(eid, "again") and store.request_pause(eid, "again")
    assert (store.load(eid).cancel, store.load(eid).pause) == ("again", "again")


def test_a_reset_fences_off_the_run_before(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "a", 2)
    _dispatch(store, eid, "b", 1, version=1)
    assert _claim(store, eid, "a", 2, "old").status == "ok"
    assert _claim(store, eid, "b", 1, "old").status == "ok"
    assert store.report(eid, Outcome("b", 1, True, "reported, never applied"), "old")
    reset = _reset(eid, dispatched={"a": Dispatched(3, time.time())})
    assert store.commit(eid, 2, reset, ttl=None) is not None
    assert store.claims(eid) == {} and store.outcomes(eid) == []
    assert store.load(eid).outcomes == []
    assert store.dispatched(eid) == {"a": Dispatched(3, store.dispatched(eid)["a"].due)}
    assert not store.renew(eid, "a", 2, "old", 5)  # the old worker stops
    assert not store.report(eid, Outcome("a", 2, True, "late"), "old")
    assert _claim(store, eid, "b", 1, "old").status == "stale"  # a redelivery
    assert _claim(store, eid, "a", 3, "new").status == "ok"
    assert store.report(eid, Outcome("a", 3, True, "fresh"), "new")


def test_a_reset_sets_the_new_deadline(store: Store) -> None:
    t0 = time.time()
    eid = _new(store, created_at=t0, deadline=t0 + 10.25)
    assert store.load(eid).deadline == t0 + 10.25
    assert store.commit(eid, 0, _reset(eid, deadline=t0 + 99.125), ttl=None) is not None
    assert store.load(eid).deadline == t0 + 99.125
    assert store.commit(eid, 1, _reset(eid), ttl=None) is not None  # no new limit: none
    assert store.load(eid).deadline is None
    # a commit without reset leaves the deadline alone, whatever its ``deadline`` says
    assert store.commit(eid, 2, _reset(eid, deadline=t0 + 5.5), ttl=None) is not None
    plain = _commit(eid, deadline=t0 + 1.0)
    assert store.commit(eid, 3, plain, ttl=None) is not None
    assert store.load(eid).deadline == t0 + 5.5


def test_a_reset_makes_a_finished_execution_stay(store: Store) -> None:
    eid = _new(store, events=[_event(0)])
    done = _commit(eid, "failed", outputs={"a": 1, "big": BIG})
    if isinstance(store, MemoryStore):
        assert store.commit(eid, 0, done, ttl=0.3) is not None  # fractional: a quick test
    else:
        assert store.commit(eid, 0, done, ttl=60) is not None
        assert 0 < store.redis.ttl(store.key(eid, "meta")) <= 60
    assert eid not in store.stalled(time.time() + 10)
    assert store.commit(eid, 1, _reset(eid, {"a": 1}), ttl=60) is not None
    if isinstance(store, MemoryStore):
        time.sleep(0.5)  # past the retention it had
    else:
        from oxify.store.redis import _PARTS

        parts = [p for p in _PARTS if store.redis.exists(store.key(eid, p))]
        assert {"meta", "record", "inputs", "workflow", "outputs", "events", "blobs"} <= set(parts)
        assert {p: store.redis.ttl(store.key(eid, p)) for p in parts} == dict.fromkeys(parts, -1)
    assert store.exists(eid)
    assert store.status(eid) == ("running", None)
    assert store.outputs(eid) == {"a": 1}
    assert len(store.events(eid)) == 1
    assert eid in store.stalled(time.time() + 10)  # running again: the reconciler sees it


# -- a new definition ---------------------------------------------------------------------------


def test_a_commit_pins_the_execution_to_a_new_definition(store: Store) -> None:
    eid = _new(store)
    # the record of a re-pinned execution names its new definition (as a resume writes it)
    changed = Commit(record=_record(eid, definition=V2), definition=V2)
    assert store.commit(eid, 0, changed, ttl=None) is not None
    assert _same_definition(store.definition(eid), V2)
    assert set(store.definition(eid).library) == {"lib/child.json"}
    assert store.load(eid).workflow_hash == V2.hash
    assert store.load(eid).record.workflow_hash == V2.hash
    plain = Definition(_workflow("v3"))
    without = Commit(record=_record(eid, definition=plain), definition=plain)
    assert store.commit(eid, 1, without, ttl=None) is not None
    assert dict(store.definition(eid).library) == {}  # the library goes with the old one
    assert _same_definition(store.definition(eid), plain)
    assert store.load(eid).workflow_hash == plain.hash


def test_a_resume_to_a_new_definition_takes_its_nodes(store: Store) -> None:
    old = {"start": NodeRecord(NodeState.SUCCEEDED, attempts=1), "end": NodeRecord()}
    eid = _new(store, "failed", nodes=old)
    nodes = {**old, "a": NodeRecord()}
    resumed = _reset(eid, nodes=nodes, definition=V2)
    resumed.record.workflow_hash = V2.hash
    assert store.commit(eid, 0, resumed, ttl=None) is not None
    assert sorted(store.load(eid).record.nodes) == ["a", "end", "start"]
    assert store.load(eid).workflow_hash == V2.hash
    # and back to one without node "a": it is gone
    again = _reset(eid, nodes=old, definition=DEFINITION)
    assert store.commit(eid, 1, again, ttl=None) is not None
    snap = store.load(eid)
    assert sorted(snap.record.nodes) == ["end", "start"]
    assert snap.workflow_hash == DEFINITION.hash
    assert _same_definition(store.definition(eid), DEFINITION)


def test_a_stale_commit_does_not_change_the_definition(store: Store) -> None:
    eid = _new(store)
    assert store.commit(eid, 0, _commit(eid), ttl=None) is not None
    stale = Commit(record=_record(eid, definition=V2), definition=V2)
    assert store.commit(eid, 0, stale, ttl=None) is None
    assert _same_definition(store.definition(eid), DEFINITION)
    assert dict(store.definition(eid).library) == {}
    assert store.load(eid).workflow_hash == DEFINITION.hash


# -- a new process: MemoryStore.restore ---------------------------------------------------------


def test_a_new_memory_store_restores_an_execution_from_its_checkpoints(tmp_path: Path) -> None:
    first = MemoryStore(checkpoints=FileCheckpointStore(tmp_path))
    eid = _new(first, definition=V2, nodes=_nodes(0), started_at=1234.5)
    taken = _checkpointed(eid, 1, {"a": 1, "big": BIG}, definition=V2)
    taken.record.started_at = 1234.5  # a restored execution was created when it started
    assert first.commit(eid, 0, taken, ttl=None) is not None
    late = Commit(record=_record(eid, definition=V2, nodes=_nodes(2)), outputs={"a": 2})
    assert first.commit(eid, 1, late, ttl=None) is not None

    second = MemoryStore(checkpoints=FileCheckpointStore(tmp_path))  # another process
    assert not second.exists(eid)
    second.restore(eid)
    assert second.exists(eid)
    # it was running when its process ended: it comes back ended, failed (interrupted)
    assert second.status(eid) == ("failed", None)
    snap = second.load(eid)
    assert snap.record.state is ExecutionState.FAILED
    assert snap.record.error is not None and snap.record.error.startswith("interrupted")
    assert (snap.record.inputs, snap.record.config) == (INPUTS, CONFIG)
    assert snap.record.current_level == 1 and snap.record.nodes["n"] == _nodes(1)["n"]
    assert snap.workflow_hash == V2.hash and snap.created_at == 1234.5
    assert _same_definition(second.definition(eid), V2)
    assert second.outputs(eid) == {"a": 1, "big": BIG}
    (checkpoint,) = second.checkpoints(eid)
    assert checkpoint.record == taken.record.to_dict()
    assert second.checkpoint_outputs(eid, checkpoint) == {"a": 1, "big": BIG}
    assert second.events(eid) == [] and second.outcomes(eid) == []
    assert eid not in second.stalled(time.time() + 10)  # ended: nothing to reconcile
    assert [(r.execution_id, r.state) for r in second.recent()] == [(eid, "failed")]
    second.restore(eid)  # known already: nothing happens
    assert second.load(eid).version == snap.version
    assert first.status(eid) == ("running", None)  # the first store is not touched


def test_a_restored_execution_that_ended_keeps_its_state(tmp_path: Path) -> None:
    first = MemoryStore(checkpoints=FileCheckpointStore(tmp_path))
    eid = _new(first)
    done = _checkpointed(eid, 1, {"a": 1})
    done.record.state = ExecutionState.COMPLETED
    assert first.commit(eid, 0, done, ttl=None) is not None
    second = MemoryStore(checkpoints=FileCheckpointStore(tmp_path))
    second.restore(eid)
    snap = second.load(eid)
    assert snap.record.state is ExecutionState.COMPLETED and snap.record.error is None
    assert second.outputs(eid) == {"a": 1}
    assert _same_definition(second.definition(eid), DEFINITION)


def test_restore_needs_a_saved_top_level_execution_with_a_checkpoint(tmp_path: Path) -> None:
    first = MemoryStore(checkpoints=FileCheckpointStore(tmp_path))
    unchecked = _new(first)  # saved, but never checkpointed
    parent = _new(first)
    child = _id()
    link = ParentLink(parent, "loop", 1, child, "item 0")
    assert first.create(_execution(execution_id=child, parent=link, depth=1)) == (child, True)
    assert first.commit(child, 0, _checkpointed(child, 1, {}), ttl=None) is not None
    second = MemoryStore(checkpoints=FileCheckpointStore(tmp_path))
    with pytest.raises(ExecutionError, match="no checkpoints"):
        second.restore(unchecked)
    with pytest.raises(ExecutionError):
        second.restore(_id())  # unknown
    with pytest.raises(ExecutionError):
        second.restore(child)  # a child execution is not saved: its parent restarts it
    assert not second.exists(unchecked) and not second.exists(child)
