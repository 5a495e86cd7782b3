"""The Redis store's Lua scripts: every transition a compare-and-set."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from oxify.errors import ExecutionError
from oxify.store.base import Commit, Dispatched, NewExecution, Outcome
from oxify.store.redis import ACTIVE, EXECUTIONS, RedisStore
from tests.cluster import TEST_REDIS_URL

EVENT: dict[str, Any] = {
    "type": "node.started",
    "execution_id": "x",
    "workflow_id": "w",
    "timestamp": 0,
    "data": {},
}


@pytest.fixture
def store(redis_db: Any) -> Iterator[RedisStore]:
    store = RedisStore(TEST_REDIS_URL)
    before = set(redis_db.zrange(ACTIVE, 0, -1))
    yield store
    # these are not real executions: keep them away from the cluster's reconciler
    made = set(redis_db.zrange(ACTIVE, 0, -1)) - before
    if made:
        redis_db.zrem(ACTIVE, *made)
        redis_db.zrem(EXECUTIONS, *made)


def _new(store: RedisStore, state: str = "running") -> str:
    eid = f"t-{uuid.uuid4()}"
    record = {"state": state, "nodes": {}}
    new = NewExecution(
        eid, '{"nodes": []}', "hash", record, {"x": 1}, time.time(), config={"node_timeout": 3}
    )
    store.create(new)
    return eid


def _dispatch(store: RedisStore, eid: str, node: str, attempt: int, version: int = 0) -> None:
    commit = Commit(
        record={"state": "running", "nodes": {}},
        state="running",
        dispatched={node: Dispatched(attempt, time.time())},
    )
    assert store.commit(eid, version, commit, ttl=None)


def test_commit_is_a_compare_and_set_on_the_version(store):
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


def test_claim_wants_the_current_attempt_of_a_running_execution(store):
    eid = _new(store)
    assert store.claim(eid, "n", 1, "w1", 5, EVENT).status == "stale"  # never dispatched
    _dispatch(store, eid, "n", 1)
    claim = store.claim(eid, "n", 1, "w1", 5, EVENT)
    assert claim.status == "ok" and claim.inputs == {"x": 1} and claim.config == {"node_timeout": 3}
    assert store.claim(eid, "n", 1, "w2", 5, EVENT).status == "busy"  # a live lease
    assert store.claim(eid, "n", 1, "w1", 5, EVENT).status == "ok"  # the holder again
    assert store.claim(eid, "n", 2, "w2", 5, EVENT).status == "stale"  # not that attempt
    assert [e.event["type"] for e in store.events(eid)] == ["node.started", "node.started"]


def test_an_expired_lease_can_be_taken_over_and_the_old_holder_is_fenced(store):
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert store.claim(eid, "n", 1, "w1", 0.05, EVENT).status == "ok"
    time.sleep(0.1)  # let the lease lapse (Redis' clock)
    assert store.claim(eid, "n", 1, "w2", 5, EVENT).status == "ok"
    assert not store.renew(eid, "n", 1, "w1", 5)
    assert store.renew(eid, "n", 1, "w2", 5)
    assert not store.report(eid, Outcome("n", 1, True, "from w1"), "w1")
    assert store.report(eid, Outcome("n", 1, True, "from w2"), "w2")
    assert [o.output for o in store.load(eid).outcomes] == ["from w2"]


def test_report_once_and_only_for_the_current_attempt(store):
    eid = _new(store)
    _dispatch(store, eid, "n", 2)
    assert store.claim(eid, "n", 2, "w", 5, EVENT).status == "ok"
    assert not store.report(eid, Outcome("n", 1, True, "old attempt"), "w")
    assert store.report(eid, Outcome("n", 2, True, "first"), "w")
    assert not store.report(eid, Outcome("n", 2, True, "second"), "w")
    assert store.claim(eid, "n", 2, "w", 5, EVENT).status == "stale"  # done already
    # the orchestrator consumes it; a consumed outcome is gone
    commit = Commit(record={"state": "running", "nodes": {}}, state="running", consumed=[("n", 2)])
    assert store.commit(eid, 1, commit, ttl=None)
    assert store.load(eid).outcomes == []


def test_large_outputs_go_to_blobs_once(store):
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    big = {"text": "y" * 4000}
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "ok"
    assert store.report(eid, Outcome("n", 1, True, big), "w")
    (outcome,) = store.load(eid).outcomes
    assert outcome.output is None and outcome.output_ref is not None
    assert store.blob(eid, outcome.output_ref) == big


def test_cancel_and_terminal_state_stop_claims(store):
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert store.request_cancel(eid, "stop")
    assert not store.request_cancel(eid, "again")  # the first reason stays
    assert store.claim(eid, "n", 1, "w", 5, EVENT).status == "stale"
    assert store.status(eid) == ("running", "stop")
    with pytest.raises(ExecutionError):
        store.request_cancel("no-such-execution", "x")


def test_terminal_commit_sets_the_retention_ttl(store):
    eid = _new(store)
    commit = Commit(
        record={"state": "completed", "nodes": {}},
        state="completed",
        outputs={"a": 1},
        events=[EVENT],
        terminal=True,
    )
    assert store.commit(eid, 0, commit, ttl=120)
    for part in ("meta", "record", "inputs", "workflow", "outputs", "events"):
        assert 0 < store.redis.ttl(store.key(eid, part)) <= 120
    assert eid not in store.stalled(time.time() + 10)


def test_idempotency_keys(store):
    first = NewExecution(f"a-{uuid.uuid4()}", "{}", "h", {"state": "pending"}, {}, time.time())
    second = NewExecution(f"b-{uuid.uuid4()}", "{}", "h", {"state": "pending"}, {}, time.time())
    key = f"k-{uuid.uuid4()}"
    assert store.create(first, key) == (first.execution_id, True)
    assert store.create(second, key) == (first.execution_id, False)
    assert not store.exists(second.execution_id)


def test_unreachable_redis_is_one_clear_error():
    from oxify.store.redis import StoreUnavailable

    with pytest.raises(StoreUnavailable, match=r"cannot reach Redis at redis://127\.0\.0\.1:1/0"):
        RedisStore("redis://127.0.0.1:1/0").ping()
    assert (
        RedisStore("redis://user:secret@127.0.0.1:1/0").safe_url == "redis://user:***@127.0.0.1:1/0"
    )
