"""The StateStore contract, one suite for every store: the in-process MemoryStore and the
RedisStore (its Lua scripts). Every transition is a compare-and-set; both stores must agree
on each of them, on the encoding of outputs, on event cursors and on retention."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from oxify.coordinator import OutputRef
from oxify.errors import ExecutionError
from oxify.store import MemoryStore
from oxify.store.base import Claim, Commit, Dispatched, NewExecution, Outcome
from tests.cluster import TEST_REDIS_URL

if TYPE_CHECKING:
    from oxify.store.redis import RedisStore

    Store = MemoryStore | RedisStore

PREFIX = "ct-"
"""Every execution id, idempotency key and drive lock of this suite starts with it."""

EVENT: dict[str, Any] = {
    "type": "node.started",
    "execution_id": "x",
    "workflow_id": "w",
    "timestamp": 0,
    "data": {},
}
RUNNING: dict[str, Any] = {"state": "running", "nodes": {}}


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    from oxify.store.redis import ACTIVE, EXECUTIONS, RedisStore

    redis_db = request.getfixturevalue("redis_db")
    before = {index: set(redis_db.zrange(index, 0, -1)) for index in (ACTIVE, EXECUTIONS)}
    yield RedisStore(TEST_REDIS_URL)
    # these are not real executions: keep them away from the live cluster's reconciler
    for index, old in before.items():
        made = [m for m in set(redis_db.zrange(index, 0, -1)) - old if m.startswith(PREFIX)]
        if made:
            redis_db.zrem(index, *made)
    for pattern in (f"oxify:{{{PREFIX}*", f"oxify:idem:{PREFIX}*"):
        keys = list(redis_db.scan_iter(match=pattern, count=1000))
        if keys:
            redis_db.delete(*keys)


def _id() -> str:
    return f"{PREFIX}{uuid.uuid4()}"


def _new(
    store: Store,
    state: str = "running",
    *,
    created_at: float | None = None,
    workflow: str = '{"nodes": []}',
    events: list[dict[str, Any]] | None = None,
    key: str | None = None,
) -> str:
    new = NewExecution(
        _id(),
        workflow,
        "hash",
        {"state": state, "nodes": {}},
        {"x": 1},
        time.time() if created_at is None else created_at,
        config={"node_timeout": 3},
        events=events or [],
    )
    eid, created = store.create(new, key)
    assert created and eid == new.execution_id
    return eid


def _dispatch(store: Store, eid: str, node: str, attempt: int, version: int = 0) -> None:
    commit = Commit(
        record=RUNNING, state="running", dispatched={node: Dispatched(attempt, time.time())}
    )
    assert store.commit(eid, version, commit, ttl=None)


def _event(n: int) -> dict[str, Any]:
    return {**EVENT, "type": "progress.update", "data": {"n": n}}


def _later(delay: float, action: Any) -> threading.Thread:
    """Run ``action`` on a thread after ``delay`` seconds."""

    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _order(cursor: str) -> tuple[int, int]:
    head, _, tail = cursor.partition("-")
    return int(head), int(tail)


# -- executions ---------------------------------------------------------------------------------


def test_create_exists_and_unknown_executions(store: Store) -> None:
    unknown = _id()
    assert not store.exists(unknown)
    assert store.status(unknown) == (None, None)
    assert store.claims(unknown) == {} and store.dispatched(unknown) == {}
    assert store.outcomes(unknown) == [] and store.outputs(unknown) == {}
    assert store.events(unknown) == []
    assert not store.commit(unknown, 0, Commit(record=RUNNING, state="running"), ttl=None)
    with pytest.raises(ExecutionError):
        store.load(unknown)
    with pytest.raises(ExecutionError):
        store.workflow_json(unknown)

    t0 = time.time()
    workflow = '{"metadata": {"name": "demo"}, "nodes": []}'
    new = NewExecution(
        _id(), workflow, "h1", {"state": "pending"}, {"q": "hi"}, t0, deadline=t0 + 60.5
    )
    assert store.create(new) == (new.execution_id, True)
    eid = new.execution_id
    assert store.exists(eid)
    assert store.workflow_json(eid) == workflow
    assert store.status(eid) == ("pending", None)
    snap = store.load(eid)
    assert (snap.version, snap.record, snap.inputs) == (0, {"state": "pending"}, {"q": "hi"})
    assert (snap.workflow_hash, snap.created_at, snap.deadline) == ("h1", t0, t0 + 60.5)
    assert snap.cancel is None and snap.outcomes == []
    assert abs(snap.now - time.time()) < 1
    with pytest.raises(ExecutionError, match="exists already"):
        store.create(new)


def test_stored_state_is_json_and_never_shared_with_the_caller(store: Store) -> None:
    record: dict[str, Any] = {"state": "running", "nodes": {}, "pair": (1, 2), "by": {3: "x"}}
    inputs: dict[str, Any] = {"items": [1, 2]}
    new = NewExecution(_id(), "{}", "h", record, inputs, time.time())
    store.create(new)
    record["state"] = "mutated"
    inputs["items"].append(3)
    snap = store.load(new.execution_id)
    assert snap.record == {"state": "running", "nodes": {}, "pair": [1, 2], "by": {"3": "x"}}
    assert snap.inputs == {"items": [1, 2]}
    snap.record["state"] = "mutated"
    snap.inputs["items"].append(4)
    again = store.load(new.execution_id)
    assert again.record["state"] == "running" and again.inputs == {"items": [1, 2]}


def test_idempotency_keys(store: Store) -> None:
    first = NewExecution(_id(), "{}", "h", {"state": "pending"}, {}, time.time())
    second = NewExecution(_id(), "{}", "h", {"state": "pending"}, {}, time.time())
    key = _id()
    assert store.create(first, key) == (first.execution_id, True)
    assert store.create(second, key) == (first.execution_id, False)
    assert not store.exists(second.execution_id)
    assert store.create(second, _id()) == (second.execution_id, True)  # another key


def test_an_idempotency_key_expires_with_its_execution(store: Store) -> None:
    key = _id()
    eid = _new(store, key=key)
    done = Commit(record={"state": "completed", "nodes": {}}, state="completed", terminal=True)
    memory = isinstance(store, MemoryStore)
    assert store.commit(eid, 0, done, ttl=0.3 if memory else 1)  # type: ignore[arg-type]
    if not memory:
        assert 0 < store.redis.ttl(f"oxify:idem:{key}") <= 1
    time.sleep(0.5 if memory else 1.2)
    assert not store.exists(eid)
    began = time.monotonic()
    again = NewExecution(_id(), "{}", "h", {"state": "pending"}, {}, time.time())
    assert store.create(again, key) == (again.execution_id, True)  # the key is free
    assert time.monotonic() - began < 1.0  # at once: not mistaken for a submit in flight
    if not memory:
        assert store.redis.ttl(f"oxify:idem:{key}") == -1  # running: no expiry


def test_a_resumed_execution_keeps_its_idempotency_key(store: Store) -> None:
    key = _id()
    eid = _new(store, key=key)
    done = Commit(record={"state": "failed", "nodes": {}}, state="failed", terminal=True)
    assert store.commit(eid, 0, done, ttl=60)
    reset = Commit(record=RUNNING, state="running", reset=True)
    assert store.commit(eid, 1, reset, ttl=60)
    if not isinstance(store, MemoryStore):
        assert store.redis.ttl(f"oxify:idem:{key}") == -1
    other = NewExecution(_id(), "{}", "h", {"state": "pending"}, {}, time.time())
    assert store.create(other, key) == (eid, False)


def test_commit_is_a_compare_and_set_on_the_version(store: Store) -> None:
    eid = _new(store)
    commit = Commit(
        record={"state": "running", "v": 1}, state="running", outputs={"a": 1}, events=[EVENT]
    )
    assert store.commit(eid, 0, commit, ttl=None)
    stale = Commit(
        record={"state": "running", "v": "stale"}, state="running", outputs={"a": 2}, events=[EVENT]
    )
    assert not store.commit(eid, 0, stale, ttl=None)
    snap = store.load(eid)
    assert snap.version == 1 and snap.record["v"] == 1
    assert store.output(eid, "a") == 1
    assert len(store.events(eid)) == 1
    done = Commit(record={"state": "completed", "v": 2}, state="completed", terminal=True)
    assert store.commit(eid, 1, done, ttl=None)
    assert store.status(eid) == ("completed", None)
    assert store.load(eid).version == 2


def test_concurrent_commits_at_one_version_one_wins(store: Store) -> None:
    eid = _new(store)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        commit = Commit(record={"state": "running", "by": i}, state="running", events=[_event(i)])
        barrier.wait()
        results.append(store.commit(eid, 0, commit, ttl=None))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(results) == [False] * 7 + [True]
    snap = store.load(eid)
    (event,) = store.events(eid)
    assert snap.version == 1 and event.event["data"]["n"] == snap.record["by"]


def test_consumed_outcomes_go_only_for_that_attempt(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "ok"
    assert store.report(eid, Outcome("n", 1, True, "one"), "w")
    keep = Commit(record=RUNNING, state="running", consumed=[("n", 2)])
    assert store.commit(eid, 1, keep, ttl=None)
    assert [o.output for o in store.outcomes(eid)] == ["one"]
    drop = Commit(record=RUNNING, state="running", consumed=[("n", 1)])
    assert store.commit(eid, 2, drop, ttl=None)
    assert store.outcomes(eid) == [] and store.load(eid).outcomes == []


# -- node attempts ------------------------------------------------------------------------------


def test_claim_wants_the_current_attempt_of_a_running_execution(store: Store) -> None:
    eid = _new(store)
    assert store.claim(eid, "n", 1, "w1", 5, EVENT).status == "stale"  # never dispatched
    _dispatch(store, eid, "n", 1)
    claim = store.claim(eid, "n", 1, "w1", 5, EVENT)
    assert claim.status == "ok" and claim.inputs == {"x": 1} and claim.config == {"node_timeout": 3}
    assert store.claim(eid, "n", 1, "w2", 5, EVENT).status == "busy"  # a live lease
    assert store.claim(eid, "n", 1, "w1", 5, EVENT).status == "ok"  # the holder again
    assert store.claim(eid, "n", 2, "w2", 5, EVENT).status == "stale"  # not that attempt
    assert [e.event["type"] for e in store.events(eid)] == ["node.started", "node.started"]
    assert store.claim(_id(), "n", 1, "w1", 5, EVENT).status == "stale"  # unknown execution
    pending = _new(store, "pending")
    queued = Commit(
        record={"state": "pending"}, state="pending", dispatched={"n": Dispatched(1, 0.0)}
    )
    assert store.commit(pending, 0, queued, ttl=None)
    assert store.claim(pending, "n", 1, "w1", 5, EVENT).status == "stale"  # not running


def test_claims_and_dispatched_are_parsed(store: Store) -> None:
    eid = _new(store)
    due = time.time() + 0.123456789
    commit = Commit(
        record=RUNNING,
        state="running",
        dispatched={"a": Dispatched(3, due), "b": Dispatched(1, 1.5)},
    )
    assert store.commit(eid, 0, commit, ttl=None)
    assert store.dispatched(eid) == {"a": Dispatched(3, due), "b": Dispatched(1, 1.5)}
    worker = "host|1234|thread-7"  # the separator inside a worker name
    before = store.now()
    assert store.claim(eid, "a", 3, worker, 5, EVENT).status == "ok"
    (node, claim), *_ = store.claims(eid).items()
    assert node == "a" and isinstance(claim, Claim)
    assert claim.attempt == 3 and claim.worker == worker
    assert before + 5 - 0.01 <= claim.lease_until <= store.now() + 5
    assert claim.lease_until == round(claim.lease_until, 6)
    assert store.claim(eid, "a", 3, "other", 5, EVENT).status == "busy"
    assert store.renew(eid, "a", 3, worker, 60)
    assert store.claims(eid)["a"].lease_until > claim.lease_until + 50
    assert not store.renew(eid, "a", 3, "host|1234", 60)
    assert not store.renew(eid, "a", 2, worker, 60)
    assert not store.renew(eid, "b", 1, worker, 60)  # never claimed


def test_an_expired_lease_can_be_taken_over_and_the_old_holder_is_fenced(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert store.claim(eid, "n", 1, "w1", 0.05, EVENT).status == "ok"
    time.sleep(0.1)  # let the lease lapse (on the store's clock)
    assert store.claim(eid, "n", 1, "w2", 5, EVENT).status == "ok"
    assert not store.renew(eid, "n", 1, "w1", 5)
    assert store.renew(eid, "n", 1, "w2", 5)
    assert not store.report(eid, Outcome("n", 1, True, "from w1"), "w1")
    assert store.report(eid, Outcome("n", 1, True, "from w2"), "w2")
    assert [o.output for o in store.load(eid).outcomes] == ["from w2"]
    assert store.claims(eid) == {}  # a report releases the claim


def test_report_once_and_only_for_the_current_attempt(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 2)
    assert store.claim(eid, "n", 2, "w", 5, EVENT).status == "ok"
    assert not store.report(eid, Outcome("n", 1, True, "old attempt"), "w")
    assert not store.report(eid, Outcome("n", 2, True, "not the holder"), "w2")
    assert store.report(eid, Outcome("n", 2, True, "first"), "w")
    assert not store.report(eid, Outcome("n", 2, True, "second"), "w")
    assert not store.report(eid, Outcome("n", 2, False, error="duplicate"), "w2")
    assert store.claim(eid, "n", 2, "w", 5, EVENT).status == "stale"  # done already
    (outcome,) = store.outcomes(eid)
    assert outcome == Outcome("n", 2, True, "first")
    # the orchestrator consumes it; a consumed outcome is gone
    commit = Commit(record=RUNNING, state="running", consumed=[("n", 2)])
    assert store.commit(eid, 1, commit, ttl=None)
    assert store.load(eid).outcomes == []


def test_no_claim_no_report(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert not store.report(eid, Outcome("n", 1, True, "never claimed"), "w")
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "ok"
    assert not store.report(eid, Outcome("n", 1, True, "not the holder"), "w2")
    assert store.report(eid, Outcome("n", 1, True, "the holder"), "w")


def test_renew_checks_the_attempt_and_the_execution_not_only_the_claim(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "ok"
    assert store.renew(eid, "n", 1, "w", 5)
    # a newer attempt was dispatched (the old one was lost): the old holder is fenced off
    _dispatch(store, eid, "n", 2, version=1)
    assert not store.renew(eid, "n", 1, "w", 5)
    assert store.claim(eid, "n", 2, "w2", 5, EVENT).status == "ok"
    assert store.renew(eid, "n", 2, "w2", 5)
    paused = Commit(record={"state": "paused", "nodes": {}}, state="paused")
    assert store.commit(eid, 2, paused, ttl=None)
    assert store.renew(eid, "n", 2, "w2", 5)  # running nodes finish while paused
    running = Commit(record=RUNNING, state="running")
    assert store.commit(eid, 3, running, ttl=None)
    assert store.request_cancel(eid, "stop")
    assert not store.renew(eid, "n", 2, "w2", 5)  # being cancelled: stop


def test_a_consumed_attempt_is_not_run_again(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "ok"
    assert store.report(eid, Outcome("n", 1, True, "first"), "w")
    commit = Commit(record=RUNNING, state="running", consumed=[("n", 1)])
    assert store.commit(eid, 1, commit, ttl=None)
    assert store.claim(eid, "n", 1, "w2", 5, EVENT).status == "stale"  # a redelivery
    assert not store.report(eid, Outcome("n", 1, True, "second"), "w2")


def test_outcomes_round_trip_every_field(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    failed = Outcome(
        "n", 1, False, error="boom", retryable=True, timed_out=True, started_at=1.5, finished_at=2.5
    )
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "ok"
    assert store.report(eid, failed, "w")
    assert store.outcomes(eid) == [failed]
    assert store.load(eid).outcomes == [failed]


def test_large_outputs_go_to_blobs_once(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    big = {"text": "y" * 4000}
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "ok"
    assert store.report(eid, Outcome("n", 1, True, big), "w")
    (outcome,) = store.load(eid).outcomes
    digest = hashlib.sha256(json.dumps(big, separators=(",", ":")).encode()).hexdigest()
    assert outcome.output is None and outcome.output_ref == digest
    assert store.blob(eid, digest) == big
    # the orchestrator records it by reference: the blob is not stored twice
    commit = Commit(record=RUNNING, state="running", outputs={"n": OutputRef(digest)})
    assert store.commit(eid, 1, commit, ttl=None)
    assert store.output(eid, "n") == big
    assert store.outputs(eid) == {"n": big}


def test_outputs_are_decoded_inline_or_by_hash(store: Store) -> None:
    eid = _new(store)
    small = {"a": [1, 2], "s": "é"}
    exactly = "x" * 1022  # 1024 bytes of JSON with the quotes: still inline
    big = "z" * 2000
    commit = Commit(
        record=RUNNING,
        state="running",
        outputs={"small": small, "edge": exactly, "big": big, "pair": (1, 2), "none": None},
    )
    assert store.commit(eid, 0, commit, ttl=None)
    assert store.outputs(eid) == {
        "small": small,
        "edge": exactly,
        "big": big,
        "pair": [1, 2],
        "none": None,
    }
    assert store.output(eid, "big") == big and store.output(eid, "none") is None
    assert store.blob(eid, hashlib.sha256(json.dumps(big).encode()).hexdigest()) == big
    with pytest.raises(KeyError):
        store.blob(eid, hashlib.sha256(json.dumps(exactly).encode()).hexdigest())
    with pytest.raises(KeyError):
        store.output(eid, "missing")
    with pytest.raises(KeyError):
        store.output(_id(), "small")
    # an output that points at a blob nobody stored
    dangling = Commit(record=RUNNING, state="running", outputs={"lost": OutputRef("0" * 64)})
    assert store.commit(eid, 1, dangling, ttl=None)
    with pytest.raises(KeyError):
        store.output(eid, "lost")


# -- cancel, terminal state, retention ----------------------------------------------------------


def test_cancel_and_terminal_state_stop_claims(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert store.request_cancel(eid, "stop")
    assert not store.request_cancel(eid, "again")  # the first reason stays
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "stale"
    assert store.status(eid) == ("running", "stop")
    assert store.load(eid).cancel == "stop"
    with pytest.raises(ExecutionError):
        store.request_cancel(_id(), "x")


def test_a_claim_made_before_the_cancel_is_stale_after_it(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "ok"
    assert store.request_cancel(eid, "stop")
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "stale"  # a redelivery
    assert len(store.events(eid)) == 1  # no second node.started


def test_a_finished_execution_takes_no_claim_and_no_report(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "ok"
    done = Commit(record={"state": "failed", "nodes": {}}, state="failed", terminal=True)
    assert store.commit(eid, 1, done, ttl=None)
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "stale"
    assert not store.report(eid, Outcome("n", 1, True, "late"), "w")
    assert store.outcomes(eid) == []
    assert eid not in store.stalled(time.time() + 10)


def test_terminal_commit_sets_the_retention_ttl(store: Store) -> None:
    key = _id()
    eid = _new(store, key=key)
    commit = Commit(
        record={"state": "completed", "nodes": {}},
        state="completed",
        outputs={"a": 1, "big": "b" * 3000},
        events=[EVENT],
        terminal=True,
    )
    if isinstance(store, MemoryStore):
        assert store.commit(eid, 0, commit, ttl=0.2)  # fractional seconds: a quick test
    else:
        assert store.commit(eid, 0, commit, ttl=1)  # whole seconds (Redis EXPIRE)
    assert store.exists(eid) and store.output(eid, "a") == 1
    assert eid not in store.stalled(time.time() + 10)
    if not isinstance(store, MemoryStore):
        for part in ("meta", "record", "inputs", "workflow", "outputs", "events", "blobs"):
            assert 0 < store.redis.pttl(store.key(eid, part)) <= 1000
    deadline = time.monotonic() + 5
    while store.exists(eid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not store.exists(eid)
    assert store.status(eid) == (None, None)
    with pytest.raises(ExecutionError):
        store.load(eid)
    with pytest.raises(ExecutionError):
        store.workflow_json(eid)
    assert store.events(eid) == [] and store.outputs(eid) == {}
    assert eid not in [r["execution_id"] for r in store.recent(limit=10_000)]
    # the idempotency key of an expired execution is free again
    again = NewExecution(_id(), "{}", "h", {"state": "pending"}, {}, time.time())
    assert store.create(again, key) == (again.execution_id, True)


def test_without_a_ttl_a_finished_execution_stays(store: Store) -> None:
    eid = _new(store)
    done = Commit(record={"state": "completed"}, state="completed", terminal=True)
    assert store.commit(eid, 0, done, ttl=None)
    if not isinstance(store, MemoryStore):
        assert store.redis.ttl(store.key(eid, "meta")) == -1
    assert store.status(eid) == ("completed", None)


# -- events -------------------------------------------------------------------------------------


def test_event_cursors_order_and_seq_counts_every_append(store: Store) -> None:
    eid = _new(store, events=[_event(0), _event(1)])
    commit = Commit(
        record=RUNNING,
        state="running",
        dispatched={"n": Dispatched(1, time.time())},
        events=[_event(2), _event(3)],
    )
    assert store.commit(eid, 0, commit, ttl=None)
    assert store.claim(eid, "n", 1, "w", 5, {**EVENT, "data": {"n": 4}}).status == "ok"
    events = store.events(eid)
    assert [e.event["seq"] for e in events] == [0, 1, 2, 3, 4]
    assert [e.event["data"]["n"] for e in events] == [0, 1, 2, 3, 4]
    assert events[4].event["type"] == "node.started"
    assert events[0].event == {**_event(0), "seq": 0}
    cursors = [e.cursor for e in events]
    assert sorted(cursors, key=_order) == cursors and len(set(cursors)) == 5
    assert [e.event["seq"] for e in store.events(eid, after=cursors[1])] == [2, 3, 4]
    assert [e.event["seq"] for e in store.events(eid, after=cursors[1], count=2)] == [2, 3]
    assert [e.cursor for e in store.events(eid, after=cursors[2])] == cursors[3:]
    assert store.events(eid, after=cursors[-1]) == []
    assert [e.event["seq"] for e in store.events(eid, count=1)] == [0]
    assert [e.event["seq"] for e in store.events(eid, after="0-0")] == [0, 1, 2, 3, 4]


def test_a_blocked_read_returns_as_soon_as_an_event_is_appended(store: Store) -> None:
    eid = _new(store, events=[_event(0)])
    (first,) = store.events(eid)
    started = time.monotonic()
    # with nothing to wait for, a blocking read from the start returns at once
    assert [e.event["seq"] for e in store.events(eid, block=2)] == [0]
    assert time.monotonic() - started < 0.5
    commit = Commit(record=RUNNING, state="running", events=[_event(1)])
    thread = _later(0.2, lambda: store.commit(eid, 0, commit, ttl=None))
    started = time.monotonic()
    got = store.events(eid, after=first.cursor, block=2)
    elapsed = time.monotonic() - started
    thread.join()
    assert [e.event["data"]["n"] for e in got] == [1] and got[0].event["seq"] == 1
    assert 0.1 < elapsed < 1.5
    # and nothing new: it waits for the whole timeout, then returns nothing
    started = time.monotonic()
    assert store.events(eid, after=got[0].cursor, block=0.3) == []
    assert 0.25 < time.monotonic() - started < 1.5


def test_dollar_sees_only_events_appended_after_the_call(store: Store) -> None:
    eid = _new(store, events=[_event(0), _event(1)])
    started = time.monotonic()
    assert store.events(eid, "$", block=0.3) == []  # the two old ones are not "new"
    assert time.monotonic() - started >= 0.25
    claim_event = {**EVENT, "data": {"n": 2}}
    _dispatch(store, eid, "n", 1)
    thread = _later(0.2, lambda: store.claim(eid, "n", 1, "w", 5, claim_event))
    got = store.events(eid, "$", block=2)
    thread.join()
    assert [(e.event["seq"], e.event["type"]) for e in got] == [(2, "node.started")]
    assert [e.cursor for e in store.events(eid)][-1] == got[0].cursor


def test_a_blocked_read_on_an_execution_not_created_yet(store: Store) -> None:
    eid = _id()
    new = NewExecution(eid, "{}", "h", RUNNING, {}, time.time(), events=[_event(7)])
    thread = _later(0.2, lambda: store.create(new))
    got = store.events(eid, block=2)
    thread.join()
    assert [(e.event["seq"], e.event["data"]["n"]) for e in got] == [(0, 7)]


# -- listing, stalled executions, drive lock ----------------------------------------------------


def test_recent_lists_newest_first_with_a_state_filter(store: Store) -> None:
    base = time.time() + 10_000  # newer than anything else in a shared Redis database
    named = '{"metadata": {"name": "demo"}, "nodes": []}'
    a = _new(store, "running", created_at=base + 1, workflow=named)
    b = _new(store, "pending", created_at=base + 2)
    c = _new(store, "running", created_at=base + 3, workflow=named)
    assert store.recent(limit=3) == [
        {
            "execution_id": c,
            "state": "running",
            "created_at": base + 3,
            "workflow": "demo",
            "parent": None,
        },
        {
            "execution_id": b,
            "state": "pending",
            "created_at": base + 2,
            "workflow": "workflow",
            "parent": None,
        },
        {
            "execution_id": a,
            "state": "running",
            "created_at": base + 1,
            "workflow": "demo",
            "parent": None,
        },
    ]
    assert [r["execution_id"] for r in store.recent("running", limit=2)] == [c, a]
    assert [r["execution_id"] for r in store.recent("pending", limit=1)] == [b]
    assert [r["execution_id"] for r in store.recent(limit=1)] == [c]
    done = Commit(record={"state": "completed"}, state="completed", terminal=True)
    assert store.commit(c, 0, done, ttl=None)
    assert [r["execution_id"] for r in store.recent("running", limit=1)] == [a]
    assert store.recent("completed", limit=1)[0]["execution_id"] == c


def test_recent_leaves_child_executions_out_when_asked(store: Store) -> None:
    base = time.time() + 20_000
    parent = _new(store, "running", created_at=base + 1)
    new = NewExecution(
        _id(),
        '{"nodes": []}',
        "hash",
        {"state": "running", "nodes": {}, "parent": {"execution_id": parent, "node_id": "n"}},
        {},
        base + 2,
    )
    child, _ = store.create(new)
    rows = store.recent(limit=2)
    assert [(r["execution_id"], r["parent"]) for r in rows] == [(child, parent), (parent, None)]
    assert [r["execution_id"] for r in store.recent(limit=1, include_children=False)] == [parent]


def test_stalled_lists_unfinished_executions_by_last_progress(store: Store) -> None:
    base = time.time() + 5_000  # in the future: the live reconciler must not see them
    first = _new(store, created_at=base)
    second = _new(store, created_at=base + 10)
    assert first not in store.stalled(base - 1)
    mine = {first, second}
    assert [e for e in store.stalled(base + 5) if e in mine] == [first]
    assert [e for e in store.stalled(base + 20) if e in mine] == [first, second]
    # progress (a commit) moves it to now; a terminal commit takes it off the list
    now = time.time()
    assert store.commit(first, 0, Commit(record=RUNNING, state="running"), ttl=None)
    assert first in store.stalled(time.time() + 1) and first not in store.stalled(now - 1)
    done = Commit(record={"state": "completed"}, state="completed", terminal=True)
    assert store.commit(second, 0, done, ttl=None)
    assert [e for e in store.stalled(base + 20) if e in mine] == [first]


def test_a_stale_commit_does_not_revive_a_finished_execution(store: Store) -> None:
    eid = _new(store)
    done = Commit(record={"state": "completed"}, state="completed", terminal=True)
    assert store.commit(eid, 0, done, ttl=None)
    assert not store.commit(eid, 0, Commit(record=RUNNING, state="running"), ttl=None)
    assert eid not in store.stalled(time.time() + 10)


def test_drive_is_single_flight(store: Store) -> None:
    eid = _id()
    assert store.begin_drive(eid, "A", 5)
    assert not store.begin_drive(eid, "B", 5)  # A holds it; B marks it dirty
    assert not store.finish_drive(eid, "A", 5)  # dirty: A goes round once more
    assert store.finish_drive(eid, "A", 5)  # clean: released
    assert store.begin_drive(eid, "B", 5)
    assert not store.begin_drive(eid, "B", 5)  # not re-entrant: marks it dirty too
    store.abort_drive(eid, "A")  # not the holder: nothing happens
    assert not store.begin_drive(eid, "C", 5)
    store.abort_drive(eid, "B")
    assert store.begin_drive(eid, "C", 5)  # released (and the dirty mark cleared)
    assert store.finish_drive(eid, "C", 5)
    assert store.finish_drive(eid, "nobody", 5)  # nothing held: done


def test_a_lost_drive_lock_finishes(store: Store) -> None:
    eid = _id()
    assert store.begin_drive(eid, "A", 0.05)
    time.sleep(0.1)  # the lock lapses
    assert store.finish_drive(eid, "A", 5)  # lost: done (not "go round")
    assert store.begin_drive(eid, "B", 5)
    assert not store.begin_drive(eid, "A", 0.05)  # marks dirty for B for 50 ms
    time.sleep(0.1)
    assert store.finish_drive(eid, "B", 5)  # the dirty mark lapsed: done
    assert store.begin_drive(eid, "A", 5)


# -- Redis only ---------------------------------------------------------------------------------


def test_unreachable_redis_is_one_clear_error() -> None:
    from oxify.store.redis import RedisStore, StoreUnavailable

    with pytest.raises(StoreUnavailable, match=r"cannot reach Redis at redis://127\.0\.0\.1:1/0"):
        RedisStore("redis://127.0.0.1:1/0").ping()
    assert (
        RedisStore("redis://user:secret@127.0.0.1:1/0").safe_url == "redis://user:***@127.0.0.1:1/0"
    )
