"""The StateStore contract for durable executions, on every store (the same parametrized
``store`` fixture as :mod:`tests.contract.test_store`): the sub-workflow library and outputs
given at creation, pause requests, child executions, checkpoints taken in a commit, resets
(a resume) and re-pinning the definition."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from oxify.errors import ExecutionError
from oxify.store import MemoryStore
from oxify.store.base import CheckpointRequest, Commit, Dispatched, NewExecution, Outcome
from tests.contract import test_store as contract
from tests.contract.test_store import EVENT, RUNNING, _dispatch, _id, _new

if TYPE_CHECKING:
    from oxify.checkpoints import Checkpoint
    from tests.contract.test_store import Store

store = contract.store
"""Every test runs against the MemoryStore and the RedisStore (its keys are cleaned up)."""

BIG = "b" * 3000
"""An output larger than the inline limit: stored once, by hash."""
LIBRARY = '{"lib/child.json": {"nodes": [{"id": "c", "type": "noop"}]}}'
TERMINAL = ("completed", "failed", "cancelled")


def _checkpointed(step: int, outputs: dict[str, Any], keep: int = 2) -> Commit:
    """A commit at ``step`` that stores ``outputs`` and takes a checkpoint."""
    event = {
        **EVENT,
        "type": "checkpoint.created",
        "data": {"checkpoint_id": "__CHECKPOINT_ID__", "step": step},
    }
    request = CheckpointRequest(f"step {step}", 1000.5 + step, f"hash{step}", keep, event)
    record = {"state": "running", "nodes": {}, "step": step}
    return Commit(record=record, state="running", outputs=outputs, checkpoint=request)


def _reset(
    outputs: dict[str, Any] | None = None, deadline: float | None = None, **changes: Any
) -> Commit:
    return Commit(
        record=RUNNING,
        state="running",
        outputs=outputs or {},
        reset=True,
        deadline=deadline,
        **changes,
    )


def _by_child(children: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["child"]: c for c in children}


# -- creation -----------------------------------------------------------------------------------


def test_create_stores_the_library_it_is_given(store: Store) -> None:
    new = NewExecution(_id(), "{}", "h", RUNNING, {}, time.time(), library_json=LIBRARY)
    store.create(new)
    assert store.library_json(new.execution_id) == LIBRARY
    assert store.library_json(_new(store)) == ""  # none given


def test_create_stores_the_outputs_it_is_given_inline_or_by_hash(store: Store) -> None:
    small = {"a": [1, 2], "s": "é"}
    big = {"text": BIG}
    given = {"small": small, "big": big}
    new = NewExecution(_id(), "{}", "h", RUNNING, {}, time.time(), outputs=given)
    eid, _ = store.create(new)
    assert store.output(eid, "small") == small
    assert store.output(eid, "big") == big
    assert store.outputs(eid) == {"small": small, "big": big}
    with pytest.raises(KeyError):
        store.output(eid, "other")
    assert store.outputs(_new(store)) == {}  # none given


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
    commit = Commit(
        record=RUNNING,
        state="running",
        dispatched={"a": Dispatched(1, time.time()), "b": Dispatched(1, time.time())},
    )
    assert store.commit(eid, 0, commit, ttl=None)
    assert store.claim(eid, "a", 1, "w", 5, EVENT).status == "ok"
    paused = Commit(record={"state": "paused", "nodes": {}}, state="paused")
    assert store.commit(eid, 1, paused, ttl=None)
    assert store.status(eid) == ("paused", None)
    assert store.claim(eid, "b", 1, "w", 5, EVENT).status == "stale"  # nothing new starts
    assert store.report(eid, Outcome("a", 1, True, "done while pausing"), "w")
    assert store.outcomes(eid) == [Outcome("a", 1, True, "done while pausing")]
    assert store.claims(eid) == {}


def test_a_completed_execution_refuses_reports(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "ok"
    done = Commit(record={"state": "completed", "nodes": {}}, state="completed", terminal=True)
    assert store.commit(eid, 1, done, ttl=None)
    assert not store.report(eid, Outcome("n", 1, True, "late"), "w")
    assert store.outcomes(eid) == [] and store.load(eid).outcomes == []


# -- child executions ---------------------------------------------------------------------------


def test_a_finished_child_is_recorded_once(store: Store) -> None:
    parent = _new(store)
    child = _id()
    result = {"child": child, "state": "completed", "outputs": {"x": [1, "é"]}}
    assert store.child_finished(parent, child, result)
    assert not store.child_finished(parent, child, {"child": child, "state": "failed"})
    snap = store.load(parent)
    assert snap.children == [result]
    assert snap.outcomes == [] and store.outcomes(parent) == []  # not a node outcome


def test_a_consumed_child_result_is_gone_and_not_recorded_again(store: Store) -> None:
    parent = _new(store)
    first, second = _id(), _id()
    assert store.child_finished(parent, first, {"child": first, "n": 1})
    assert store.child_finished(parent, second, {"child": second, "n": 2})
    assert _by_child(store.load(parent).children) == {
        first: {"child": first, "n": 1},
        second: {"child": second, "n": 2},
    }
    commit = Commit(record=RUNNING, state="running", consumed=[("child:" + first, 0)])
    assert store.commit(parent, 0, commit, ttl=None)
    assert store.load(parent).children == [{"child": second, "n": 2}]
    assert not store.child_finished(parent, first, {"child": first, "n": 3})  # a redelivery
    assert store.load(parent).children == [{"child": second, "n": 2}]


@pytest.mark.parametrize("state", TERMINAL)
def test_a_finished_parent_takes_no_child_result(store: Store, state: str) -> None:
    parent = _new(store)
    done = Commit(record={"state": state, "nodes": {}}, state=state, terminal=True)
    assert store.commit(parent, 0, done, ttl=None)
    child = _id()
    assert not store.child_finished(parent, child, {"child": child})
    assert store.load(parent).children == []


def test_an_unknown_parent_takes_no_child_result(store: Store) -> None:
    parent, child = _id(), _id()
    assert not store.child_finished(parent, child, {"child": child})
    assert not store.exists(parent)


# -- checkpoints --------------------------------------------------------------------------------


def test_checkpoints_keep_the_newest_with_their_record_and_outputs(store: Store) -> None:
    eid = _new(store)
    assert store.checkpoints(eid) == []
    assert store.commit(eid, 0, _checkpointed(1, {"a": 1}), ttl=None)
    assert store.commit(eid, 1, _checkpointed(2, {"s": "é", "big": BIG}), ttl=None)
    assert store.commit(eid, 2, _checkpointed(3, {"c": [1, 2]}), ttl=None)
    kept = store.checkpoints(eid)
    assert [cp.id for cp in kept] == ["2", "3"]  # the newest two, oldest first
    second, third = kept
    assert (second.execution_id, second.reason, second.created_at) == (eid, "step 2", 1002.5)
    assert (third.execution_id, third.reason, third.created_at) == (eid, "step 3", 1003.5)
    assert (second.workflow_hash, third.workflow_hash) == ("hash2", "hash3")
    assert second.record == {"state": "running", "nodes": {}, "step": 2}
    assert third.record == {"state": "running", "nodes": {}, "step": 3}
    assert set(second.outputs) == {"a", "s", "big"}
    assert set(third.outputs) == {"a", "s", "big", "c"}
    assert store.checkpoint_outputs(eid, second) == {"a": 1, "s": "é", "big": BIG}
    assert store.checkpoint_outputs(eid, third) == {"a": 1, "s": "é", "big": BIG, "c": [1, 2]}


def test_checkpoint_outputs_are_those_stored_when_it_was_taken(store: Store) -> None:
    eid = _new(store)
    assert store.commit(eid, 0, _checkpointed(1, {"a": 1, "big": BIG}), ttl=None)
    later = Commit(record=RUNNING, state="running", outputs={"a": 2, "big": "n" * 2000})
    assert store.commit(eid, 1, later, ttl=None)
    (checkpoint,) = store.checkpoints(eid)
    assert store.checkpoint_outputs(eid, checkpoint) == {"a": 1, "big": BIG}
    assert store.outputs(eid) == {"a": 2, "big": "n" * 2000}


def test_a_checkpoint_before_any_output_refers_to_none(store: Store) -> None:
    eid = _new(store)
    assert store.commit(eid, 0, _checkpointed(1, {}, keep=5), ttl=None)
    (checkpoint,) = store.checkpoints(eid)
    assert checkpoint.id == "1" and checkpoint.outputs == {}
    assert store.checkpoint_outputs(eid, checkpoint) == {}


def test_checkpoint_ids_count_up_and_a_stale_commit_takes_none(store: Store) -> None:
    eid = _new(store)
    assert store.commit(eid, 0, _checkpointed(1, {}, keep=5), ttl=None)
    assert not store.commit(eid, 0, _checkpointed(2, {"x": 1}, keep=5), ttl=None)  # stale
    assert store.commit(eid, 1, _checkpointed(3, {}, keep=5), ttl=None)
    kept: list[Checkpoint] = store.checkpoints(eid)
    assert [(cp.id, cp.reason) for cp in kept] == [("1", "step 1"), ("2", "step 3")]
    assert store.outputs(eid) == {}


def test_checkpoint_created_events_carry_the_checkpoint_id(store: Store) -> None:
    eid = _new(store)
    first = _checkpointed(1, {"a": 1})
    first.events = [{**EVENT, "type": "level.completed", "data": {"level": 0}}]
    assert store.commit(eid, 0, first, ttl=None)
    assert store.commit(eid, 1, _checkpointed(2, {}), ttl=None)
    assert store.commit(eid, 2, _checkpointed(3, {}), ttl=None)
    events = [e.event for e in store.events(eid)]
    assert [(e["seq"], e["type"]) for e in events] == [
        (0, "level.completed"),  # the commit's own events come first
        (1, "checkpoint.created"),
        (2, "checkpoint.created"),
        (3, "checkpoint.created"),
    ]
    assert [e["data"] for e in events[1:]] == [
        {"checkpoint_id": "1", "step": 1},
        {"checkpoint_id": "2", "step": 2},
        {"checkpoint_id": "3", "step": 3},
    ]
    assert [cp.id for cp in store.checkpoints(eid)] == ["2", "3"]  # the events stay


# -- reset (a resume) ---------------------------------------------------------------------------


def test_a_reset_replaces_every_stored_output(store: Store) -> None:
    eid = _new(store)
    before = Commit(record=RUNNING, state="running", outputs={"a": 1, "b": BIG, "c": "c"})
    assert store.commit(eid, 0, before, ttl=None)
    assert store.commit(eid, 1, _reset({"a": 5, "d": {"big": BIG}}), ttl=None)
    assert store.outputs(eid) == {"a": 5, "d": {"big": BIG}}
    for gone in ("b", "c"):
        with pytest.raises(KeyError):
            store.output(eid, gone)
    assert store.commit(eid, 2, _reset(), ttl=None)  # no outputs: none left
    assert store.outputs(eid) == {}


def test_a_reset_clears_the_cancel_and_pause_requests(store: Store) -> None:
    eid = _new(store)
    assert store.request_cancel(eid, "stop")
    assert store.request_pause(eid, "hold")
    dispatched = {"n": Dispatched(1, time.time())}
    assert store.commit(eid, 0, _reset(dispatched=dispatched), ttl=None)
    snap = store.load(eid)
    assert snap.cancel is None and snap.pause is None
    assert store.status(eid) == ("running", None)
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "ok"  # no longer cancelled
    assert store.request_cancel(eid, "again") and store.request_pause(eid, "again")
    assert (store.load(eid).cancel, store.load(eid).pause) == ("again", "again")


def test_a_reset_fences_off_the_run_before(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "a", 2)
    _dispatch(store, eid, "b", 1, version=1)
    assert store.claim(eid, "a", 2, "old", 5, EVENT).status == "ok"
    assert store.claim(eid, "b", 1, "old", 5, EVENT).status == "ok"
    assert store.report(eid, Outcome("b", 1, True, "reported, never applied"), "old")
    assert store.commit(eid, 2, _reset(dispatched={"a": Dispatched(3, time.time())}), ttl=None)
    assert store.claims(eid) == {} and store.outcomes(eid) == []
    assert store.dispatched(eid) == {"a": Dispatched(3, store.dispatched(eid)["a"].due)}
    assert not store.renew(eid, "a", 2, "old", 5)  # the old worker stops
    assert not store.report(eid, Outcome("a", 2, True, "late"), "old")
    assert store.claim(eid, "b", 1, "old", 5, EVENT).status == "stale"  # a redelivery
    assert store.claim(eid, "a", 3, "new", 5, EVENT).status == "ok"
    assert store.report(eid, Outcome("a", 3, True, "fresh"), "new")


def test_a_reset_sets_the_new_deadline(store: Store) -> None:
    t0 = time.time()
    new = NewExecution(_id(), "{}", "h", RUNNING, {}, t0, deadline=t0 + 10.25)
    eid, _ = store.create(new)
    assert store.load(eid).deadline == t0 + 10.25
    assert store.commit(eid, 0, _reset(deadline=t0 + 99.125), ttl=None)
    assert store.load(eid).deadline == t0 + 99.125
    assert store.commit(eid, 1, _reset(), ttl=None)  # no new limit: none
    assert store.load(eid).deadline is None
    # a commit without reset leaves the deadline alone, whatever its ``deadline`` says
    assert store.commit(eid, 2, _reset(deadline=t0 + 5.5), ttl=None)
    plain = Commit(record=RUNNING, state="running", deadline=t0 + 1.0)
    assert store.commit(eid, 3, plain, ttl=None)
    assert store.load(eid).deadline == t0 + 5.5


def test_a_reset_makes_a_finished_execution_stay(store: Store) -> None:
    eid = _new(store, events=[EVENT])
    done = Commit(
        record={"state": "failed", "nodes": {}},
        state="failed",
        outputs={"a": 1, "big": BIG},
        terminal=True,
    )
    if isinstance(store, MemoryStore):
        assert store.commit(eid, 0, done, ttl=0.3)  # fractional seconds: a quick test
    else:
        assert store.commit(eid, 0, done, ttl=60)
        assert 0 < store.redis.ttl(store.key(eid, "meta")) <= 60
    assert eid not in store.stalled(time.time() + 10)
    assert store.commit(eid, 1, _reset({"a": 1}), ttl=60)
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
    new = NewExecution(_id(), '{"nodes": []}', "h1", RUNNING, {}, time.time(), library_json="{}")
    eid, _ = store.create(new)
    workflow = '{"metadata": {"name": "v2"}, "nodes": [{"id": "a", "type": "noop"}]}'
    changed = Commit(record=RUNNING, state="running", definition=(workflow, LIBRARY, "h2"))
    assert store.commit(eid, 0, changed, ttl=None)
    assert store.workflow_json(eid) == workflow
    assert store.library_json(eid) == LIBRARY
    assert store.load(eid).workflow_hash == "h2"
    without = Commit(record=RUNNING, state="running", definition=('{"nodes": []}', "", "h3"))
    assert store.commit(eid, 1, without, ttl=None)
    assert store.library_json(eid) == ""
    assert (store.workflow_json(eid), store.load(eid).workflow_hash) == ('{"nodes": []}', "h3")


def test_a_stale_commit_does_not_change_the_definition(store: Store) -> None:
    eid = _new(store)
    assert store.commit(eid, 0, Commit(record=RUNNING, state="running"), ttl=None)
    stale = Commit(record=RUNNING, state="running", definition=('{"v": 2}', LIBRARY, "h2"))
    assert not store.commit(eid, 0, stale, ttl=None)
    assert store.workflow_json(eid) == '{"nodes": []}'
    assert store.library_json(eid) == ""
    assert store.load(eid).workflow_hash == "hash"
