"""The StateStore contract, one suite for every store: the in-process MemoryStore and the
RedisStore (its Lua scripts). Every transition is a compare-and-set; both stores must agree
on each of them, on outputs, on event cursors and on retention. How the Redis store encodes
outputs (inline, or once by hash) is checked on the Redis store only."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import pytest

from oxify.engine.options import ExecutionConfig
from oxify.engine.state import (
    ExecutionRecord,
    ExecutionState,
    NodeRecord,
    NodeState,
    NodeTable,
    ParentLink,
)
from oxify.errors import ExecutionError
from oxify.events import Event
from oxify.model.definition import Definition
from oxify.model.io import parse_workflow, workflow_to_data
from oxify.model.workflow import Workflow
from oxify.store import MemoryStore
from oxify.store.base import (
    Claim,
    ClaimResult,
    Commit,
    Dispatched,
    ExecutionSummary,
    NewEvent,
    NewExecution,
    Outcome,
    OutputRef,
)
from tests.cluster import TEST_REDIS_URL
from tests.support import END, START, value

if TYPE_CHECKING:
    from oxify.store.redis import RedisStore

    Store = MemoryStore | RedisStore

PREFIX = "ct-"
"""Every execution id, idempotency key and drive lock of this suite starts with it."""

WORKFLOW_ID = "w"
INPUTS: dict[str, Any] = {"x": 1}
CONFIG = ExecutionConfig(node_timeout=3)
STARTED = NewEvent("node.started", {}, 0.0)
"""The ``node.started`` event a worker's claim appends."""


def _workflow(name: str | None = None, *nodes: str) -> Workflow:
    """``start → nodes… → end`` (each node a value node), named ``name`` (unnamed: the
    default name, ``workflow``)."""
    ids = ["start", *nodes, "end"]
    kinds = {"start": START, "end": END}
    doc: dict[str, Any] = {
        "nodes": [{"id": n, "kind": kinds.get(n, value(n))} for n in ids],
        "edges": [{"from": a, "to": b} for a, b in pairwise(ids)],
    }
    if name is not None:
        doc["metadata"] = {"name": name}
    return parse_workflow(doc)


DEFINITION = Definition(_workflow())
NAMED = Definition(_workflow("demo"))


def _same_definition(got: Definition, expected: Definition) -> bool:
    """Equal hash, workflow and library (a workflow read back from JSON gets new ids for
    what its document leaves unset, so the documents are compared, not the models)."""
    return (
        got.hash == expected.hash
        and workflow_to_data(got.workflow) == workflow_to_data(expected.workflow)
        and got.library_data() == expected.library_data()
    )


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


def redis_only(store: Store) -> RedisStore:
    """The store, if it is the Redis store (how it encodes outputs is a Redis fact);
    otherwise the test is skipped."""
    from oxify.store.redis import RedisStore

    if not isinstance(store, RedisStore):
        pytest.skip("how outputs are stored in Redis")
    return store


def _id() -> str:
    return f"{PREFIX}{uuid.uuid4()}"


def _record(
    execution_id: str,
    state: str = "running",
    *,
    definition: Definition = DEFINITION,
    inputs: dict[str, Any] | None = None,
    nodes: dict[str, NodeRecord] | None = None,
    **fields: Any,
) -> ExecutionRecord:
    """A record of ``execution_id`` as the tests create and commit it (inputs ``INPUTS``,
    options ``CONFIG``)."""
    return ExecutionRecord(
        execution_id=execution_id,
        workflow_id=WORKFLOW_ID,
        workflow_hash=definition.hash,
        mode="levels",
        inputs=dict(INPUTS) if inputs is None else inputs,
        nodes=NodeTable.of(dict(nodes or {})),
        level_remaining=fields.pop("level_remaining", []),
        state=ExecutionState(state),
        config=CONFIG,
        **fields,
    )


def _execution(
    state: str = "running",
    *,
    created_at: float | None = None,
    definition: Definition = DEFINITION,
    events: list[NewEvent] | None = None,
    deadline: float | None = None,
    outputs: dict[str, Any] | None = None,
    execution_id: str | None = None,
    **fields: Any,
) -> NewExecution:
    eid = execution_id or _id()
    return NewExecution(
        definition,
        _record(eid, state, definition=definition, **fields),
        time.time() if created_at is None else created_at,
        deadline=deadline,
        events=events or [],
        outputs=outputs or {},
    )


def _new(store: Store, state: str = "running", *, key: str | None = None, **options: Any) -> str:
    new = _execution(state, **options)
    eid, created = store.create(new, key)
    assert created and eid == new.execution_id
    return eid


def _commit(eid: str, state: str = "running", **changes: Any) -> Commit:
    """A commit of a record in ``state``; keywords are the record's ``current_level``,
    ``finished_count``, ``error`` and ``nodes``, and the commit's own fields."""
    record_fields = {
        k: changes.pop(k)
        for k in ("current_level", "finished_count", "error", "nodes")
        if k in changes
    }
    return Commit(record=_record(eid, state, **record_fields), **changes)


def _dispatch(store: Store, eid: str, node: str, attempt: int, version: int = 0) -> None:
    commit = _commit(eid, dispatched={node: Dispatched(attempt, time.time())})
    assert store.commit(eid, version, commit, ttl=None) is not None


def _claim(
    store: Store,
    eid: str,
    node: str,
    attempt: int,
    worker: str,
    lease: float = 5,
    event: NewEvent = STARTED,
) -> ClaimResult:
    return store.claim(eid, node, attempt, worker, lease, event, WORKFLOW_ID)


def _event(n: int) -> NewEvent:
    return NewEvent("progress.update", {"n": n}, 1000.0 + n)


def _later(delay: float, action: Any) -> threading.Thread:
    """Run ``action`` on a thread after ``delay`` seconds."""

    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _order(cursor: str | None) -> tuple[int, int]:
    assert cursor is not None
    head, _, tail = cursor.partition("-")
    return int(head), int(tail)


def _seqs(events: list[Event]) -> list[int]:
    return [e.seq for e in events]


# -- executions ---------------------------------------------------------------------------------


def test_create_exists_and_unknown_executions(store: Store) -> None:
    unknown = _id()
    assert not store.exists(unknown)
    assert store.status(unknown) == (None, None)
    assert store.claims(unknown) == {} and store.dispatched(unknown) == {}
    assert store.outcomes(unknown) == [] and store.outputs(unknown) == {}
    assert store.events(unknown) == []
    assert store.commit(unknown, 0, _commit(unknown), ttl=None) is None
    with pytest.raises(ExecutionError):
        store.load(unknown)
    with pytest.raises(ExecutionError):
        store.definition(unknown)

    t0 = time.time()
    new = _execution("pending", created_at=t0, deadline=t0 + 60.5, definition=NAMED)
    new.record.inputs = {"q": "hi"}
    assert store.create(new) == (new.execution_id, True)
    eid = new.execution_id
    assert store.exists(eid)
    assert _same_definition(store.definition(eid), NAMED)
    assert store.definition(eid).workflow.name == "demo"
    assert store.status(eid) == ("pending", None)
    snap = store.load(eid)
    assert (snap.version, snap.record.to_dict()) == (0, new.record.to_dict())
    assert snap.record.inputs == {"q": "hi"} and snap.record.config == CONFIG
    assert snap.record.state is ExecutionState.PENDING and snap.record.parent is None
    assert (snap.workflow_hash, snap.created_at, snap.deadline) == (NAMED.hash, t0, t0 + 60.5)
    assert snap.cancel is None and snap.pause is None
    assert snap.outcomes == [] and snap.children == []
    assert abs(snap.now - time.time()) < 1
    with pytest.raises(ExecutionError, match="exists already"):
        store.create(new)


def test_a_snapshot_is_a_private_copy_never_shared_with_the_caller(store: Store) -> None:
    nodes = {
        "a": NodeRecord(NodeState.SUCCEEDED, attempts=1, routes=("x", "y"), finished_at=1.5),
        "b": NodeRecord(NodeState.QUEUED, attempts=2, pending=1),
    }
    new = _execution(nodes=nodes, level_remaining=[1, 1], failed_nodes=["c"], restart=["b"])
    new.record.inputs = {"items": [1, 2]}
    eid, _ = store.create(new)
    stored = new.record.to_dict()
    # the caller goes on changing its record: the store keeps what it was given
    record = new.record
    record.state = ExecutionState.FAILED
    record.error = "mutated"
    record.nodes["a"].attempts = 7
    record.nodes["a"].state = NodeState.FAILED
    record.nodes["b"] = NodeRecord(NodeState.SKIPPED)
    snap = store.load(eid)
    # as plain data, a snapshot's record is JSON, read or not (a resume without a
    # checkpoint starts from it)
    assert json.loads(json.dumps(snap.record.to_dict())) == stored
    assert snap.record.to_dict() == stored
    assert snap.record.nodes["a"] == NodeRecord(
        NodeState.SUCCEEDED, attempts=1, routes=("x", "y"), finished_at=1.5
    )
    assert snap.record.inputs == {"items": [1, 2]}
    # a snapshot is a private copy: changing it never changes what the store holds
    snap.record.state = ExecutionState.COMPLETED
    snap.record.nodes["a"].attempts = 9
    snap.record.nodes["a"].error = "mutated"
    snap.record.nodes["b"] = NodeRecord(NodeState.SUCCEEDED)
    snap.record.level_done(0)  # (the level counters change through level_done only)
    snap.record.failed_nodes.append("a")
    assert snap.record.restart is not None
    snap.record.restart.append("a")
    again = store.load(eid)
    assert again.record.to_dict() == stored
    assert again.record.nodes["a"].attempts == 1 and again.record.nodes["b"].attempts == 2
    # nor do two snapshots share anything a step changes
    one, two = store.load(eid), store.load(eid)
    one.record.nodes["b"].pending = 0
    one.record.level_done(1)
    assert two.record.nodes["b"].pending == 1 and two.record.level_remaining == [1, 1]
    if not isinstance(store, MemoryStore):
        # Redis hands out JSON copies of the inputs too (the memory store shares them,
        # read-only by convention: the producer gives it a JSON copy of its own)
        record.inputs["items"].append(3)
        snap.record.inputs["items"].append(4)
        assert store.load(eid).record.inputs == {"items": [1, 2]}


def test_idempotency_keys(store: Store) -> None:
    first, second = _execution("pending"), _execution("pending")
    key = _id()
    assert store.create(first, key) == (first.execution_id, True)
    assert store.create(second, key) == (first.execution_id, False)
    assert not store.exists(second.execution_id)
    assert store.create(second, _id()) == (second.execution_id, True)  # another key


def test_an_idempotency_key_expires_with_its_execution(store: Store) -> None:
    key = _id()
    eid = _new(store, key=key)
    done = _commit(eid, "completed")
    memory = isinstance(store, MemoryStore)
    assert store.commit(eid, 0, done, ttl=0.3 if memory else 1) is not None
    if not isinstance(store, MemoryStore):
        assert 0 < store.redis.ttl(f"oxify:idem:{key}") <= 1
    time.sleep(0.5 if memory else 1.2)
    assert not store.exists(eid)
    began = time.monotonic()
    again = _execution("pending")
    assert store.create(again, key) == (again.execution_id, True)  # the key is free
    assert time.monotonic() - began < 1.0  # at once: not mistaken for a submit in flight
    if not isinstance(store, MemoryStore):
        assert store.redis.ttl(f"oxify:idem:{key}") == -1  # running: no expiry


def test_a_resumed_execution_keeps_its_idempotency_key(store: Store) -> None:
    key = _id()
    eid = _new(store, key=key)
    assert store.commit(eid, 0, _commit(eid, "failed"), ttl=60) is not None
    assert store.commit(eid, 1, _commit(eid, reset=True), ttl=60) is not None
    if not isinstance(store, MemoryStore):
        assert store.redis.ttl(f"oxify:idem:{key}") == -1
    other = _execution("pending")
    assert store.create(other, key) == (eid, False)


def test_commit_is_a_compare_and_set_on_the_version(store: Store) -> None:
    eid = _new(store)
    commit = _commit(eid, finished_count=1, outputs={"a": 1}, events=[_event(1)])
    appended = store.commit(eid, 0, commit, ttl=None)
    assert appended is not None
    stale = _commit(eid, finished_count=99, outputs={"a": 2}, events=[_event(2)])
    assert store.commit(eid, 0, stale, ttl=None) is None
    snap = store.load(eid)
    assert snap.version == 1 and snap.record.finished_count == 1
    assert store.output(eid, "a") == 1
    assert store.events(eid) == appended  # only the events of the commit that won
    (event,) = appended
    assert (event.seq, event.type, event.data) == (0, "progress.update", {"n": 1})
    assert (event.execution_id, event.workflow_id, event.timestamp) == (eid, WORKFLOW_ID, 1001.0)
    assert event.cursor is not None
    done = _commit(eid, "completed", finished_count=2)
    assert done.terminal
    assert store.commit(eid, 1, done, ttl=None) == []  # applied, no events
    assert store.status(eid) == ("completed", None)
    assert store.load(eid).version == 2
    assert store.load(eid).record.state is ExecutionState.COMPLETED


def test_concurrent_commits_at_one_version_one_wins(store: Store) -> None:
    eid = _new(store)
    results: list[list[Event] | None] = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        commit = _commit(eid, finished_count=i, events=[_event(i)])
        barrier.wait()
        results.append(store.commit(eid, 0, commit, ttl=None))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(r is not None for r in results) == [False] * 7 + [True]
    snap = store.load(eid)
    (event,) = store.events(eid)
    assert snap.version == 1 and event.data["n"] == snap.record.finished_count
    (won,) = [r for r in results if r is not None]
    assert won == [event]


def test_consumed_outcomes_go_only_for_that_attempt(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert _claim(store, eid, "n", 1, "w").status == "ok"
    assert store.report(eid, Outcome("n", 1, True, "one"), "w")
    keep = _commit(eid, consumed=[("n", 2)])
    assert store.commit(eid, 1, keep, ttl=None) is not None
    assert [o.output for o in store.outcomes(eid)] == ["one"]
    assert [o.output for o in store.load(eid).outcomes] == ["one"]
    drop = _commit(eid, consumed=[("n", 1)])
    assert store.commit(eid, 2, drop, ttl=None) is not None
    assert store.outcomes(eid) == [] and store.load(eid).outcomes == []


# -- node attempts ------------------------------------------------------------------------------


def test_claim_wants_the_current_attempt_of_a_running_execution(store: Store) -> None:
    eid = _new(store)
    assert _claim(store, eid, "n", 1, "w1").status == "stale"  # never dispatched
    _dispatch(store, eid, "n", 1)
    claim = _claim(store, eid, "n", 1, "w1", event=NewEvent("node.started", {"k": 1}, 5.5))
    assert claim.status == "ok" and claim.inputs == INPUTS and claim.node_timeout == 3
    assert claim.event is not None
    assert (claim.event.type, claim.event.seq, claim.event.data) == ("node.started", 0, {"k": 1})
    assert (claim.event.execution_id, claim.event.workflow_id) == (eid, WORKFLOW_ID)
    assert claim.event.timestamp == 5.5
    assert store.events(eid) == [claim.event]  # as stored, with its cursor
    busy = _claim(store, eid, "n", 1, "w2")
    assert busy.status == "busy" and busy.event is None  # a live lease
    again = _claim(store, eid, "n", 1, "w1")
    assert again.status == "ok" and again.event is not None  # the holder again
    assert again.event.seq == 1
    assert _claim(store, eid, "n", 2, "w2").status == "stale"  # not that attempt
    assert [e.type for e in store.events(eid)] == ["node.started", "node.started"]
    stale = _claim(store, _id(), "n", 1, "w1")  # unknown execution
    assert stale == ClaimResult("stale")
    pending = _new(store, "pending")
    queued = _commit(pending, "pending", dispatched={"n": Dispatched(1, 0.0)})
    assert store.commit(pending, 0, queued, ttl=None) is not None
    assert _claim(store, pending, "n", 1, "w1").status == "stale"  # not running
    assert store.events(pending) == []


def test_claims_and_dispatched_are_parsed(store: Store) -> None:
    eid = _new(store)
    due = time.time() + 0.123456789
    commit = _commit(eid, dispatched={"a": Dispatched(3, due), "b": Dispatched(1, 1.5)})
    assert store.commit(eid, 0, commit, ttl=None) is not None
    assert store.dispatched(eid) == {"a": Dispatched(3, due), "b": Dispatched(1, 1.5)}
    worker = "host|1234|thread-7"  # the separator inside a worker name
    before = store.now()
    assert _claim(store, eid, "a", 3, worker).status == "ok"
    (node, claim), *_ = store.claims(eid).items()
    assert node == "a" and isinstance(claim, Claim)
    assert claim.attempt == 3 and claim.worker == worker
    assert before + 5 - 0.01 <= claim.lease_until <= store.now() + 5
    assert claim.lease_until == round(claim.lease_until, 6)
    assert _claim(store, eid, "a", 3, "other").status == "busy"
    assert store.renew(eid, "a", 3, worker, 60)
    assert store.claims(eid)["a"].lease_until > claim.lease_until + 50
    assert not store.renew(eid, "a", 3, "host|1234", 60)
    assert not store.renew(eid, "a", 2, worker, 60)
    assert not store.renew(eid, "b", 1, worker, 60)  # never claimed


def test_an_expired_lease_can_be_taken_over_and_the_old_holder_is_fenced(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert _claim(store, eid, "n", 1, "w1", lease=0.05).status == "ok"
    time.sleep(0.1)  # let the lease lapse (on the store's clock)
    assert _claim(store, eid, "n", 1, "w2").status == "ok"
    assert not store.renew(eid, "n", 1, "w1", 5)
    assert store.renew(eid, "n", 1, "w2", 5)
    assert not store.report(eid, Outcome("n", 1, True, "from w1"), "w1")
    assert store.report(eid, Outcome("n", 1, True, "from w2"), "w2")
    assert [o.output for o in store.load(eid).outcomes] == ["from w2"]
    assert store.claims(eid) == {}  # a report releases the claim


def test_report_once_and_only_for_the_current_attempt(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 2)
    assert _claim(store, eid, "n", 2, "w").status == "ok"
    assert not store.report(eid, Outcome("n", 1, True, "old attempt"), "w")
    assert not store.report(eid, Outcome("n", 2, True, "not the holder"), "w2")
    assert store.report(eid, Outcome("n", 2, True, "first"), "w")
    assert not store.report(eid, Outcome("n", 2, True, "second"), "w")
    assert not store.report(eid, Outcome("n", 2, False, error="duplicate"), "w2")
    assert _claim(store, eid, "n", 2, "w").status == "stale"  # done already
    (outcome,) = store.outcomes(eid)
    assert outcome == Outcome("n", 2, True, "first")
    # the orchestrator consumes it; a consumed outcome is gone
    commit = _commit(eid, consumed=[("n", 2)])
    assert store.commit(eid, 1, commit, ttl=None) is not None
    assert store.load(eid).outcomes == []


def test_no_claim_no_report(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert not store.report(eid, Outcome("n", 1, True, "never claimed"), "w")
    assert _claim(store, eid, "n", 1, "w").status == "ok"
    assert not store.report(eid, Outcome("n", 1, True, "not the holder"), "w2")
    assert store.report(eid, Outcome("n", 1, True, "the holder"), "w")


def test_renew_checks_the_attempt_and_the_execution_not_only_the_claim(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert _claim(store, eid, "n", 1, "w").status == "ok"
    assert store.renew(eid, "n", 1, "w", 5)
    # a newer attempt was dispatched (the old one was lost): the old holder is fenced off
    _dispatch(store, eid, "n", 2, version=1)
    assert not store.renew(eid, "n", 1, "w", 5)
    assert _claim(store, eid, "n", 2, "w2").status == "ok"
    assert store.renew(eid, "n", 2, "w2", 5)
    assert store.commit(eid, 2, _commit(eid, "paused"), ttl=None) is not None
    assert store.renew(eid, "n", 2, "w2", 5)  # running nodes finish while paused
    assert store.commit(eid, 3, _commit(eid), ttl=None) is not None
    assert store.request_cancel(eid, "stop")
    assert not store.renew(eid, "n", 2, "w2", 5)  # being cancelled: stop


def test_renew_stops_once_the_execution_ended(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert _claim(store, eid, "n", 1, "w").status == "ok"
    assert store.renew(eid, "n", 1, "w", 5)
    assert store.commit(eid, 1, _commit(eid, "failed"), ttl=None) is not None
    assert not store.renew(eid, "n", 1, "w", 5)


def test_a_consumed_attempt_is_not_run_again(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert _claim(store, eid, "n", 1, "w").status == "ok"
    assert store.report(eid, Outcome("n", 1, True, "first"), "w")
    commit = _commit(eid, consumed=[("n", 1)])
    assert store.commit(eid, 1, commit, ttl=None) is not None
    assert store.dispatched(eid) == {}  # settled: not "dispatched" any more
    assert _claim(store, eid, "n", 1, "w2").status == "stale"  # a redelivery
    assert not store.report(eid, Outcome("n", 1, True, "second"), "w2")
    assert not store.renew(eid, "n", 1, "w", 5)


def test_outcomes_round_trip_every_field(store: Store) -> None:
    eid = _new(store)
    dispatched = {"n": Dispatched(1, time.time()), "r": Dispatched(2, time.time())}
    assert store.commit(eid, 0, _commit(eid, dispatched=dispatched), ttl=None) is not None
    failed = Outcome(
        "n", 1, False, error="boom", retryable=True, timed_out=True, started_at=1.5, finished_at=2.5
    )
    routed = Outcome(
        "r", 2, True, {"k": ["v", 1]}, routes=["left"], started_at=3.25, finished_at=4.75
    )
    assert _claim(store, eid, "n", 1, "w").status == "ok"
    assert _claim(store, eid, "r", 2, "w").status == "ok"
    assert store.report(eid, failed, "w")
    assert store.report(eid, routed, "w")
    by_node = {o.node_id: o for o in store.outcomes(eid)}
    assert by_node == {"n": failed, "r": routed}
    assert {o.node_id: o for o in store.load(eid).outcomes} == {"n": failed, "r": routed}


def test_a_large_output_round_trips(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    big = {"text": "y" * 4000}
    assert _claim(store, eid, "n", 1, "w").status == "ok"
    assert store.report(eid, Outcome("n", 1, True, big), "w")
    (outcome,) = store.load(eid).outcomes
    # what the driver records for it: the output, or a reference to the output stored already
    if outcome.output_ref is not None:
        recorded: Any = OutputRef(outcome.output_ref)
    else:
        assert outcome.output == big
        recorded = outcome.output
    commit = _commit(eid, outputs={"n": recorded}, consumed=[("n", 1)])
    assert store.commit(eid, 1, commit, ttl=None) is not None
    assert store.output(eid, "n") == big
    assert store.outputs(eid) == {"n": big}


def test_redis_keeps_a_large_output_once_by_hash(store: Store) -> None:
    redis_store = redis_only(store)
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    big = {"text": "y" * 4000}
    assert _claim(store, eid, "n", 1, "w").status == "ok"
    assert store.report(eid, Outcome("n", 1, True, big), "w")
    (outcome,) = store.load(eid).outcomes
    digest = hashlib.sha256(json.dumps(big, separators=(",", ":")).encode()).hexdigest()
    assert outcome.output is None and outcome.output_ref == digest
    assert redis_store.blob(eid, digest) == big
    # the orchestrator records it by reference: the blob is not stored twice
    commit = _commit(eid, outputs={"n": OutputRef(digest)})
    assert store.commit(eid, 1, commit, ttl=None) is not None
    assert store.output(eid, "n") == big
    assert store.outputs(eid) == {"n": big}
    blobs = redis_store.redis.hgetall(redis_store.key(eid, "blobs"))
    assert blobs == {digest: json.dumps(big, separators=(",", ":"))}
    assert redis_store.redis.hget(redis_store.key(eid, "outputs"), "n") == "@" + digest


def test_outputs_are_decoded(store: Store) -> None:
    eid = _new(store)
    small = {"a": [1, 2], "s": "é"}
    exactly = "x" * 1022  # 1024 bytes of JSON with the quotes
    big = "z" * 2000
    outputs = {"small": small, "edge": exactly, "big": big, "none": None, "zero": 0}
    assert store.commit(eid, 0, _commit(eid, outputs=outputs), ttl=None) is not None
    assert store.outputs(eid) == outputs
    assert store.output(eid, "big") == big and store.output(eid, "none") is None
    assert store.output(eid, "small") == small and store.output(eid, "zero") == 0
    with pytest.raises(KeyError):
        store.output(eid, "missing")
    with pytest.raises(KeyError):
        store.output(_id(), "small")
    # a later commit replaces one output and keeps the others
    assert store.commit(eid, 1, _commit(eid, outputs={"small": 2}), ttl=None) is not None
    assert store.outputs(eid) == {**outputs, "small": 2}


def test_redis_stores_outputs_inline_or_by_hash(store: Store) -> None:
    redis_store = redis_only(store)
    from oxify.store.redis import INLINE_LIMIT, encode_output

    eid = _new(store)
    small = {"a": [1, 2], "s": "é"}
    exactly = "x" * 1022  # 1024 bytes of JSON with the quotes: still inline
    big = "z" * 2000
    assert len(json.dumps(exactly)) == INLINE_LIMIT
    commit = _commit(
        eid, outputs={"small": small, "edge": exactly, "big": big, "pair": (1, 2), "none": None}
    )
    assert store.commit(eid, 0, commit, ttl=None) is not None
    assert store.outputs(eid) == {
        "small": small,
        "edge": exactly,
        "big": big,
        "pair": [1, 2],  # JSON: a tuple comes back a list
        "none": None,
    }
    fields = redis_store.redis.hgetall(redis_store.key(eid, "outputs"))
    assert fields["small"] == '={"a":[1,2],"s":"é"}' and fields["edge"] == "=" + json.dumps(exactly)
    big_digest = hashlib.sha256(json.dumps(big).encode()).hexdigest()
    assert fields["big"] == "@" + big_digest
    assert encode_output(big) == ("@" + big_digest, {big_digest: json.dumps(big)})
    assert redis_store.blob(eid, big_digest) == big
    with pytest.raises(KeyError):
        redis_store.blob(eid, hashlib.sha256(json.dumps(exactly).encode()).hexdigest())
    # an output that points at a blob nobody stored
    dangling = _commit(eid, outputs={"lost": OutputRef("0" * 64)})
    assert store.commit(eid, 1, dangling, ttl=None) is not None
    with pytest.raises(KeyError):
        store.output(eid, "lost")


# -- cancel, terminal state, retention ----------------------------------------------------------


def test_cancel_and_terminal_state_stop_claims(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert store.request_cancel(eid, "stop")
    assert not store.request_cancel(eid, "again")  # the first reason stays
    assert _claim(store, eid, "n", 1, "w").status == "stale"
    assert store.status(eid) == ("running", "stop")
    assert store.load(eid).cancel == "stop"
    with pytest.raises(ExecutionError):
        store.request_cancel(_id(), "x")


def test_a_claim_made_before_the_cancel_is_stale_after_it(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert _claim(store, eid, "n", 1, "w").status == "ok"
    assert store.request_cancel(eid, "stop")
    assert _claim(store, eid, "n", 1, "w").status == "stale"  # a redelivery
    assert len(store.events(eid)) == 1  # no second node.started


def test_a_finished_execution_takes_no_claim_and_no_report(store: Store) -> None:
    eid = _new(store)
    _dispatch(store, eid, "n", 1)
    assert _claim(store, eid, "n", 1, "w").status == "ok"
    assert store.commit(eid, 1, _commit(eid, "failed"), ttl=None) is not None
    assert _claim(store, eid, "n", 1, "w").status == "stale"
    assert not store.report(eid, Outcome("n", 1, True, "late"), "w")
    assert store.outcomes(eid) == []
    assert eid not in store.stalled(time.time() + 10)


def test_terminal_commit_sets_the_retention_ttl(store: Store) -> None:
    key = _id()
    eid = _new(store, key=key)
    commit = _commit(eid, "completed", outputs={"a": 1, "big": "b" * 3000}, events=[_event(0)])
    assert commit.terminal
    if isinstance(store, MemoryStore):
        assert store.commit(eid, 0, commit, ttl=0.2) is not None  # fractional: a quick test
    else:
        assert store.commit(eid, 0, commit, ttl=1) is not None  # whole seconds (Redis EXPIRE)
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
        store.definition(eid)
    assert store.events(eid) == [] and store.outputs(eid) == {}
    assert eid not in [r.execution_id for r in store.recent(limit=10_000)]
    # the idempotency key of an expired execution is free again
    again = _execution("pending")
    assert store.create(again, key) == (again.execution_id, True)


def test_without_a_ttl_a_finished_execution_stays(store: Store) -> None:
    eid = _new(store)
    assert store.commit(eid, 0, _commit(eid, "completed"), ttl=None) is not None
    if not isinstance(store, MemoryStore):
        assert store.redis.ttl(store.key(eid, "meta")) == -1
    assert store.status(eid) == ("completed", None)


# -- events -------------------------------------------------------------------------------------


def test_event_cursors_order_and_seq_counts_every_append(store: Store) -> None:
    eid = _new(store, events=[_event(0), _event(1)])
    commit = _commit(
        eid, dispatched={"n": Dispatched(1, time.time())}, events=[_event(2), _event(3)]
    )
    appended = store.commit(eid, 0, commit, ttl=None)
    assert appended is not None and _seqs(appended) == [2, 3]
    claim = _claim(store, eid, "n", 1, "w", event=NewEvent("node.started", {"n": 4}, 1004.0))
    assert claim.status == "ok"
    events = store.events(eid)
    assert _seqs(events) == [0, 1, 2, 3, 4]
    assert [e.data["n"] for e in events] == [0, 1, 2, 3, 4]
    assert events[4].type == "node.started" and events[4] == claim.event
    assert events[2:4] == appended  # the commit returned them as stored, with cursors
    assert replace(events[0], cursor=None) == Event(
        "progress.update", eid, WORKFLOW_ID, 0, 1000.0, {"n": 0}
    )
    cursors = [e.cursor for e in events]
    assert sorted(cursors, key=_order) == cursors and len(set(cursors)) == 5
    assert _seqs(store.events(eid, after=cursors[1])) == [2, 3, 4]
    assert _seqs(store.events(eid, after=cursors[1], count=2)) == [2, 3]
    assert [e.cursor for e in store.events(eid, after=cursors[2])] == cursors[3:]
    assert store.events(eid, after=cursors[-1]) == []
    assert _seqs(store.events(eid, count=1)) == [0]
    assert _seqs(store.events(eid, after="0-0")) == [0, 1, 2, 3, 4]


def test_a_blocked_read_returns_as_soon_as_an_event_is_appended(store: Store) -> None:
    eid = _new(store, events=[_event(0)])
    (first,) = store.events(eid)
    started = time.monotonic()
    # with nothing to wait for, a blocking read from the start returns at once
    assert _seqs(store.events(eid, block=2)) == [0]
    assert time.monotonic() - started < 0.5
    commit = _commit(eid, events=[_event(1)])
    thread = _later(0.2, lambda: store.commit(eid, 0, commit, ttl=None))
    started = time.monotonic()
    got = store.events(eid, after=first.cursor, block=2)
    elapsed = time.monotonic() - started
    thread.join()
    assert [e.data["n"] for e in got] == [1] and got[0].seq == 1
    assert 0.1 < elapsed < 1.5
    # and nothing new: it waits for the whole timeout, then returns nothing
    started = time.monotonic()
    assert store.events(eid, after=got[0].cursor, block=0.3) == []
    assert 0.25 < time.monotonic() - started < 1.5


def test_dollar_sees_only_events_appended_after_the_call(store: Store) -> None:
    eid = _new(store, events=[_event(0), _event(1)])
    assert store.events(eid, "$") == []  # without blocking: nothing new yet
    started = time.monotonic()
    assert store.events(eid, "$", block=0.3) == []  # the two old ones are not "new"
    assert time.monotonic() - started >= 0.25
    claim_event = NewEvent("node.started", {"n": 2}, 1002.0)
    _dispatch(store, eid, "n", 1)
    thread = _later(0.2, lambda: _claim(store, eid, "n", 1, "w", event=claim_event))
    got = store.events(eid, "$", block=2)
    thread.join()
    assert [(e.seq, e.type, e.data) for e in got] == [(2, "node.started", {"n": 2})]
    assert [e.cursor for e in store.events(eid)][-1] == got[0].cursor


def test_a_blocked_read_on_an_execution_not_created_yet(store: Store) -> None:
    new = _execution(events=[_event(7)])
    eid = new.execution_id
    thread = _later(0.2, lambda: store.create(new))
    got = store.events(eid, block=2)
    thread.join()
    assert [(e.seq, e.data["n"], e.execution_id) for e in got] == [(0, 7, eid)]


# -- listing, stalled executions, drive lock ----------------------------------------------------


def test_recent_lists_newest_first_with_a_state_filter(store: Store) -> None:
    base = time.time() + 10_000  # newer than anything else in a shared Redis database
    a = _new(store, "running", created_at=base + 1, definition=NAMED)
    b = _new(store, "pending", created_at=base + 2)
    c = _new(store, "running", created_at=base + 3, definition=NAMED)
    assert store.recent(limit=3) == [
        ExecutionSummary(c, "running", base + 3, "demo", None),
        ExecutionSummary(b, "pending", base + 2, "workflow", None),
        ExecutionSummary(a, "running", base + 1, "demo", None),
    ]
    assert store.recent(limit=1)[0].to_dict() == {
        "execution_id": c,
        "state": "running",
        "created_at": base + 3,
        "workflow": "demo",
        "parent": None,
    }
    assert [r.execution_id for r in store.recent("running", limit=2)] == [c, a]
    assert [r.execution_id for r in store.recent("pending", limit=1)] == [b]
    assert [r.execution_id for r in store.recent(limit=1)] == [c]
    assert store.commit(c, 0, _commit(c, "completed"), ttl=None) is not None
    assert [r.execution_id for r in store.recent("running", limit=1)] == [a]
    assert store.recent("completed", limit=1)[0].execution_id == c


def test_recent_leaves_child_executions_out_when_asked(store: Store) -> None:
    base = time.time() + 20_000
    parent = _new(store, "running", created_at=base + 1)
    child_id = _id()
    link = ParentLink(parent, "n", 1, child_id, "item 0")
    new = _execution(created_at=base + 2, execution_id=child_id, parent=link, depth=1)
    assert new.parent_id == parent
    child, _ = store.create(new)
    assert child == child_id
    assert store.load(child).record.parent == link and store.load(child).record.depth == 1
    rows = store.recent(limit=2)
    assert [(r.execution_id, r.parent) for r in rows] == [(child, parent), (parent, None)]
    assert [r.execution_id for r in store.recent(limit=1, include_children=False)] == [parent]


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
    assert store.commit(first, 0, _commit(first), ttl=None) is not None
    assert first in store.stalled(time.time() + 1) and first not in store.stalled(now - 1)
    assert store.commit(second, 0, _commit(second, "completed"), ttl=None) is not None
    assert [e for e in store.stalled(base + 20) if e in mine] == [first]
    store.forget_stalled(first)
    assert first not in store.stalled(time.time() + 10)


def test_a_stale_commit_does_not_revive_a_finished_execution(store: Store) -> None:
    eid = _new(store)
    assert store.commit(eid, 0, _commit(eid, "completed"), ttl=None) is not None
    assert store.commit(eid, 0, _commit(eid), ttl=None) is None
    assert eid not in store.stalled(time.time() + 10)
    assert store.status(eid) == ("completed", None)


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
