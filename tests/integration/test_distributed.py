"""Distributed mode on real Redis and real Celery worker processes: what only it can do
(idempotent submit, duplicate deliveries, killed workers, cancel, cursors, storage)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import oxify
from oxify import ExecutionState, NodeState
from oxify import events as ev
from oxify.store.redis import RedisStore
from tests import plugins
from tests.cluster import ROOT, Cluster, cluster_env
from tests.support import END, START, build, custom, value

EXAMPLES = ROOT / "examples"


def wait_for_event(client: Any, eid: str, type_: str, node_id: str, timeout: float = 30) -> None:
    for event in client.events(eid, timeout=timeout):
        if event.type == type_ and event.data.get("node_id") == node_id:
            return
    raise AssertionError(f"{type_} for {node_id} never came")


def wait_for_call(eid: str, node_id: str, timeout: float = 30) -> None:
    """Until ``test.count`` has been entered for the node (the executor really runs)."""
    deadline = time.monotonic() + timeout
    while not plugins.calls(eid, node_id):
        assert time.monotonic() < deadline, f"{node_id} never ran"
        time.sleep(0.02)


def test_idempotent_submit(client):
    wf = build({"start": START, "n": custom("test.count"), "end": END}, "start>n, n>end")
    first = client.submit(wf, {"x": 1}, idempotency_key="order-42")
    again = client.submit(wf, {"x": 1}, idempotency_key="order-42")
    assert again == first
    assert client.wait(first, timeout=30).ok
    assert client.submit(wf, {"x": 1}, idempotency_key="order-42") == first
    assert plugins.calls(first, "n") == [1]
    other = client.submit(wf, {"x": 1}, idempotency_key="order-43")
    assert other != first
    assert client.wait(other, timeout=30).ok


def test_invalid_workflow_is_rejected_and_nothing_is_stored(client, redis_db):
    wf = oxify.parse_workflow(
        {
            "nodes": [
                {"id": "a", "kind": {"type": "Start"}},
                {
                    "id": "b",
                    "kind": {
                        "type": "IfElse",
                        "config": {"expression": "x >", "true_branch": "zz", "false_branch": "a"},
                    },
                },
            ],
            "edges": [{"from": "a", "to": "b"}],
        }
    )

    def executions() -> set[str]:
        return {k.split("}")[0] for k in redis_db.scan_iter("oxify:{*")} | set(
            redis_db.zrange("oxify:executions", 0, -1)
        )

    before = executions()
    with pytest.raises(oxify.ValidationError) as info:
        client.submit(wf, {})
    codes = {i.code for i in info.value.issues if i.severity == "error"}
    assert {"missing_end", "invalid_condition", "unknown_node"} <= codes
    assert executions() == before


def test_duplicate_deliveries_record_one_result(client, cluster):
    wf = build(
        {"start": START, "slow": custom("test.count", seconds=1.0, output="once"), "end": END},
        "start>slow, slow>end",
    )
    eid = client.submit(wf, mode="dataflow")
    wait_for_event(client, eid, ev.NODE_STARTED, "slow")
    store: RedisStore = client.store
    meta = store.redis.hgetall(store.key(eid, "meta"))
    # the same message delivered again while the first copy runs (visibility timeout,
    # broker redelivery): the second copy finds the attempt claimed and does nothing
    from workers.app import make_app

    app = make_app(client.settings)
    duplicate = app.send_task(
        "oxify.run_node", args=(eid, "slow", 1, meta["workflow_hash"]), queue="oxify.control"
    )
    assert duplicate.get(timeout=30) == "busy"
    result = client.wait(eid, timeout=30)
    assert result.ok and result.node("slow").output == "once"
    assert result.node("slow").attempts == 1
    assert plugins.calls(eid, "slow") == [1]
    # and once it is done, yet another copy is stale
    late = app.send_task(
        "oxify.run_node", args=(eid, "slow", 1, meta["workflow_hash"]), queue="oxify.control"
    )
    assert late.get(timeout=30) == "stale"
    assert plugins.calls(eid, "slow") == [1]
    # a duplicate report of the same attempt is refused by the store
    from oxify.store.base import Outcome

    assert not store.report(eid, Outcome("slow", 1, True, "again"), "someone")


def _kill_worker(cluster: Cluster, name: str, **env: str) -> None:
    cluster.start(
        name,
        "worker",
        "--pool",
        "code",
        "--queue",
        "oxify.killme",
        "--pool-type",
        "prefork",
        "--concurrency",
        "1",
        env=cluster_env(cluster.url, **env),
    )
    cluster.wait_ready(["code"])


def test_worker_sigkilled_mid_node_execution_still_completes(client, cluster):
    _kill_worker(cluster, "victim")
    nodes = {
        "start": START,
        "slow": custom("test.count", seconds=1.5, output="survived"),
        "end": END,
    }
    wf = build(nodes, "start>slow, slow>end", slow={"queue": "oxify.killme"})
    eid = client.submit(wf)
    wait_for_call(eid, "slow")
    cluster.kill("victim")  # the whole worker: parent and child, SIGKILL
    _kill_worker(cluster, "rescuer")
    try:
        result = client.wait(eid, timeout=60)
    finally:
        cluster.kill("rescuer")
    assert result.state is ExecutionState.COMPLETED
    node = result.node("slow")
    assert node.output == "survived"
    assert node.attempts == 2  # the lost attempt is reported
    assert plugins.calls(eid, "slow") == [1, 2]
    retries = [e for e in client.events(eid, follow=False) if e.type == ev.NODE_RETRY]
    assert [r.data["error"] for r in retries] == ["worker lost"]


def test_cancel_reaches_running_and_queued_nodes(client):
    nodes = {
        "start": START,
        **{f"n{i}": custom("test.count", seconds=20) for i in range(12)},
        "end": END,
    }
    edges = ", ".join([f"start>n{i}" for i in range(12)] + [f"n{i}>end" for i in range(12)])
    eid = client.submit(build(nodes, edges))
    wait_for_event(client, eid, ev.NODE_STARTED, "n0")
    began = time.monotonic()
    client.cancel(eid, "stop it")
    result = client.wait(eid, timeout=30)
    assert time.monotonic() - began < 5
    assert result.state is ExecutionState.CANCELLED
    assert result.error == "stop it"
    assert all(result.node(f"n{i}").state is NodeState.CANCELLED for i in range(12))
    started = sum(1 for i in range(12) if plugins.calls(eid, f"n{i}"))
    assert started <= 8  # the control worker runs 8 at once: the rest never started
    # running nodes saw the flag and let go of their worker: a new execution runs at once
    quick = build({"start": START, "a": value(1), "end": END}, "start>a, a>end")
    assert client.wait(client.submit(quick), timeout=10).ok
    types = [e.type for e in client.events(eid, follow=False)]
    assert types[-1] == ev.WORKFLOW_CANCELLED and ev.NODE_CANCELLED in types


def test_events_resume_from_a_cursor(client):
    eid = client.submit(oxify.load_workflow(EXAMPLES / "diamond.json"), {"x": 2})
    client.wait(eid, timeout=30)
    every = list(client.events(eid, follow=False))
    assert [e.seq for e in every] == list(range(len(every)))
    assert every[0].type == ev.WORKFLOW_STARTED and every[-1].type == ev.WORKFLOW_COMPLETED
    rest = list(client.events(eid, every[4].cursor, follow=False))
    assert [e.seq for e in rest] == [e.seq for e in every[5:]]
    followed = list(client.events(eid, every[-2].cursor))
    assert [e.type for e in followed] == [ev.WORKFLOW_COMPLETED]


CASES = [
    ("diamond.json", {"x": 5}),
    ("if_else.json", {"name": "Ada", "score": 80, "disqualified": False}),
    ("if_else.json", {"name": "Bo", "score": 80, "disqualified": True}),
    ("switch.yaml", {"lang": "es", "name": "Eva"}),
    ("switch.yaml", {"lang": "xx", "name": "Eva"}),
]


def _comparable(result: oxify.ExecutionResult) -> dict[str, Any]:
    doc = result.to_dict()
    for key in ("execution_id", "started_at", "finished_at"):
        doc.pop(key)
    for node in doc["nodes"].values():
        node.pop("started_at")
        node.pop("finished_at")
    return doc


@pytest.mark.parametrize(("example", "inputs"), CASES)
@pytest.mark.parametrize("mode", ["levels", "dataflow"])
def test_distributed_results_match_embedded(client, example, inputs, mode):
    wf = oxify.load_workflow(EXAMPLES / example)
    embedded = oxify.Engine().run(wf, inputs, mode=mode)
    distributed = client.wait(client.submit(wf, inputs, mode=mode), timeout=30)
    assert _comparable(distributed) == _comparable(embedded)
    kinds = lambda r: sorted(e.type for e in r)  # noqa: E731
    local_events: list[oxify.Event] = []
    oxify.Engine().run(wf, inputs, mode=mode, on_event=local_events.append)
    assert kinds(client.events(distributed.execution_id, follow=False)) == kinds(local_events)


def test_large_outputs_are_stored_once_by_hash(client):
    big = "x" * 5000
    wf = build(
        {
            "start": START,
            "a": value({"text": big}),
            "b": value({"text": big}),
            "c": value("{{a.text}}"),
            "end": END,
        },
        "start>a, start>b, a>c, b>end, c>end",
    )
    eid = client.submit(wf, mode="dataflow")
    result = client.wait(eid, timeout=30)
    assert result.ok and result.node("c").output == big
    store: RedisStore = client.store
    fields = store.redis.hgetall(store.key(eid, "outputs"))
    assert fields["a"].startswith("@") and fields["a"] == fields["b"]
    assert fields["start"].startswith("=")
    # three distinct large values: {"text": big} (a and b share it), big (c), End's result
    assert store.redis.hlen(store.key(eid, "blobs")) == 3


def test_finished_executions_expire_running_ones_do_not(client):
    store: RedisStore = client.store
    wf = build(
        {"start": START, "slow": custom("test.count", seconds=2), "end": END},
        "start>slow, slow>end",
    )
    eid = client.submit(wf)
    wait_for_event(client, eid, ev.NODE_STARTED, "slow")
    assert store.redis.ttl(store.key(eid, "record")) == -1
    client.wait(eid, timeout=30)
    for part in ("meta", "record", "inputs", "workflow", "events", "outputs"):
        ttl = store.redis.ttl(store.key(eid, part))
        assert 0 < ttl <= client.settings.result_ttl, part


def test_list_and_status(client):
    eid = client.submit(oxify.load_workflow(EXAMPLES / "diamond.json"), {"x": 1})
    client.wait(eid, timeout=30)
    rows = client.list(limit=50)
    assert any(r["execution_id"] == eid and r["state"] == "completed" for r in rows)
    assert all(r["state"] == "completed" for r in client.list(state="completed"))
    with pytest.raises(oxify.OxifyError, match="no execution with id nope"):
        client.get("nope")


def _oxify(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oxify.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_distributed_commands(cluster):
    env = cluster_env(cluster.url)
    run = _oxify("run", "examples/diamond.json", "-i", "x=3", "--distributed", "--json", env=env)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["state"] == "completed" and doc["outputs"]["result"] == 15
    assert set(doc["nodes"]["sum"]) >= {
        "name",
        "state",
        "output",
        "error",
        "attempts",
        "started_at",
        "finished_at",
    }

    submitted = _oxify("submit", "examples/switch.yaml", "-i", "lang=fr", "-i", "name=Zoe", env=env)
    assert submitted.returncode == 0, submitted.stderr
    eid = submitted.stdout.strip()
    watched = _oxify("watch", eid, "--json", env=env)
    assert watched.returncode == 0 and json.loads(watched.stdout)["outputs"] == {
        "french": "Bonjour, Zoe !"
    }
    status = _oxify("status", eid, env=env)
    assert status.returncode == 0 and "completed" in status.stdout and "french" in status.stdout
    listed = _oxify("list", "--limit", "100", env=env)
    assert eid in listed.stdout

    failing = _oxify("submit", "examples/diamond.json", "--wait", "--json", env=env)  # x missing
    assert failing.returncode == 1
    assert json.loads(failing.stdout)["state"] == "failed"

    bad_url = _oxify(
        "run",
        "examples/diamond.json",
        "--distributed",
        "--redis-url",
        "redis://127.0.0.1:1/0",
        env=env,
    )
    assert bad_url.returncode == 2
    assert bad_url.stderr.strip().splitlines() == [bad_url.stderr.strip()]
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in bad_url.stderr
    assert "Traceback" not in bad_url.stderr

    unknown = _oxify("status", "no-such-id", env=env)
    assert unknown.returncode == 1 and "no execution with id no-such-id" in unknown.stderr

    slow = build(
        {"start": START, "s": custom("test.count", seconds=20), "end": END}, "start>s, s>end"
    )
    path = Path(cluster.log_dir) / "slow.json"
    oxify.save_workflow(slow, path)
    eid = _oxify("submit", str(path), env=env).stdout.strip()
    cancelled = _oxify("cancel", eid, env=env)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout


def test_killed_pool_child_is_replaced_and_the_node_completes(client, cluster, redis_db):
    import os
    import signal

    _kill_worker(cluster, "victim")
    wf = build(
        {"start": START, "slow": custom("test.count", seconds=1.0, output="ok"), "end": END},
        "start>slow, slow>end",
        slow={"queue": "oxify.killme"},
    )
    eid = client.submit(wf)
    wait_for_call(eid, "slow")
    child = int(redis_db.get(f"oxify-test:pid:{eid}:slow"))
    os.kill(child, signal.SIGKILL)  # only the pool child: the worker requeues its task
    try:
        result = client.wait(eid, timeout=60)
    finally:
        cluster.kill("victim")
    assert result.ok and result.node("slow").output == "ok"
    calls = plugins.calls(eid, "slow")
    # run twice in all: either the requeued message re-claimed attempt 1 after its lease
    # lapsed, or the reconciler declared it lost and ran attempt 2
    assert len(calls) == 2 and calls[-1] == result.node("slow").attempts


def test_lost_start_message_and_lost_chord_callback_are_recovered(client, cluster, redis_db):
    cluster.kill("orchestrator")
    try:
        wf = build(
            {"start": START, "a": value("A"), "b": value("B"), "end": END},
            "start>a, start>b, a>end, b>end",
        )
        eid = client.submit(wf, mode="levels")
        redis_db.delete("oxify.orchestrator")  # the start message is lost
        reconciler = client.runtime.reconciler  # any process may reconcile; here, the test's
        deadline = time.monotonic() + 30
        while client.get(eid).state is not ExecutionState.RUNNING:
            assert time.monotonic() < deadline, "the reconciler never started the execution"
            reconciler.reconcile(0.2)
            time.sleep(0.05)
        while len(client.store.load(eid).outcomes) < 2:  # a and b ran on the control pool
            assert time.monotonic() < deadline, "a and b never ran"
            time.sleep(0.05)
        redis_db.delete("oxify.orchestrator")  # and so is the chord callback of level 1
        assert client.get(eid).state is ExecutionState.RUNNING
        while not client.get(eid).state.terminal:
            assert time.monotonic() < deadline, "the reconciler never finished the execution"
            reconciler.reconcile(0.2)
            time.sleep(0.05)
        result = client.get(eid)
        assert result.ok and result.outputs == {"a": "A", "b": "B"}
    finally:
        cluster.start("orchestrator", "orchestrator", "--concurrency", "4")
        cluster.wait_ready(["orchestrator"])


def test_a_broken_execution_does_not_stop_the_reconciler(client, redis_db):
    # garbage under an execution's keys, listed as active: the reconciler must skip it
    redis_db.hset(
        "oxify:{broken}:meta",
        mapping={"version": 0, "state": "running", "workflow_hash": "x", "created_at": 0},
    )
    redis_db.set("oxify:{broken}:record", "{}")
    redis_db.zadd("oxify:active", {"broken": 0})
    try:
        wf = build(
            {"start": START, "slow": custom("test.count", seconds=10), "end": END},
            "start>slow, slow>end",
        )
        began = time.monotonic()
        result = client.wait(client.submit(wf, timeout=0.3), timeout=30)
        assert time.monotonic() - began < 5
        assert result.state is ExecutionState.FAILED
        assert result.error == "execution timed out after 0.3 s"
    finally:
        redis_db.delete("oxify:{broken}:meta", "oxify:{broken}:record")
        redis_db.zrem("oxify:active", "broken")


def test_the_reconciler_drops_ended_and_expired_executions_from_the_index(client, redis_db, caplog):
    import logging

    finished = client.submit(build({"start": START, "a": value(1), "end": END}, "start>a, a>end"))
    assert client.wait(finished, timeout=30).ok
    # an index entry left behind (a crash between the commit and the index update) and
    # one whose execution expired
    redis_db.zadd("oxify:active", {finished: 0, "expired-long-ago": 0})
    with caplog.at_level(logging.WARNING):
        client.runtime.reconciler.reconcile(0.0)
    assert redis_db.zscore("oxify:active", finished) is None
    assert redis_db.zscore("oxify:active", "expired-long-ago") is None
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a gone execution"


class _LosingDispatcher:
    """A dispatcher whose process dies after committing and before sending: the node
    attempts it was asked to send are lost (a real Dispatcher, losing on purpose)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.lost: list[str] = []

    def send(self, tasks: list[Any], level: int | None) -> None:
        self.lost += [t.node_id for t in tasks]

    def start(self, execution_id: str, delay: float = 0.0) -> None:
        self.lost.append("start")

    def revoke(self, execution_id: str, attempts: list[tuple[str, int]]) -> None:
        self.real.revoke(execution_id, attempts)


def runtime_on(client: Any, dispatcher: Any, store: Any = None, **options: Any) -> Any:
    """A runtime of the test process on the cluster's Redis (with the test plugins)."""
    from oxify.runtime.runtime import Runtime, RuntimeOptions
    from tests.conftest import test_registry

    return Runtime(
        store or client.store, dispatcher, test_registry(), options=RuntimeOptions(**options)
    )


def submit_on(runtime: Any, wf: Any, inputs: dict[str, Any], **config: Any) -> str:
    """Submit through ``runtime``'s producer; the new execution's id."""
    import uuid

    from oxify.engine.loading import load_definition

    eid = str(uuid.uuid4())
    config_ = oxify.ExecutionConfig(**config)
    runtime.producer.submit(load_definition(wf), inputs, config_, execution_id=eid)
    return eid


def test_attempts_committed_but_never_sent_are_sent_again(client):
    wf = build(
        {"start": START, "a": custom("test.count", output="A"), "end": END}, "start>a, a>end"
    )
    losing = _LosingDispatcher(client.runtime.dispatcher)
    dying = runtime_on(client, losing, dispatch_timeout=0.5)
    eid = submit_on(dying, wf, {}, mode="dataflow")
    dying.driver.advance(eid)  # Start runs inline; the commit says "a" was sent; it was not
    assert losing.lost == ["start", "a"]
    reconciler = runtime_on(client, client.runtime.dispatcher, dispatch_timeout=0.5)
    deadline = time.monotonic() + 30
    while not client.get(eid).state.terminal:
        assert time.monotonic() < deadline
        reconciler.reconciler.reconcile(0.2)
        time.sleep(0.1)
    result = client.get(eid)
    assert result.ok and result.outputs == {"a": "A"}
    assert result.node("a").attempts == 1  # the same attempt, sent again: nothing ran twice
    assert plugins.calls(eid, "a") == [1]


def test_a_poison_node_is_given_up_after_its_worker_is_lost_three_times(client, cluster):
    from oxify.engine.machine import MAX_LOST_ATTEMPTS

    _kill_worker(cluster, "poisoned")
    try:
        wf = build(
            {"start": START, "poison": custom("test.suicide"), "other": value("fine"), "end": END},
            "start>poison, start>other, poison>end, other>end",
            poison={"queue": "oxify.killme"},
        )
        eid = client.submit(wf, mode="dataflow", continue_on_error=True)
        result = client.wait(eid, timeout=90)
    finally:
        cluster.kill("poisoned")
    assert result.state is ExecutionState.COMPLETED  # continue_on_error: the rest ran
    poison = result.node("poison")
    assert poison.state is NodeState.FAILED
    assert poison.error == f"the worker running it was lost {MAX_LOST_ATTEMPTS + 1} times"
    assert poison.attempts == MAX_LOST_ATTEMPTS + 1
    assert result.node("other").output == "fine"
    assert plugins.calls(eid, "poison") == list(range(1, MAX_LOST_ATTEMPTS + 2))
