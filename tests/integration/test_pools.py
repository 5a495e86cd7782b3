"""Pools that carry only their own executors: a private cluster on its own Redis database
whose orchestrator and control worker load no plugin at all, and three pools with disjoint
plugin sets (``acme.alpha``, ``acme.beta``, ``acme.gamma``). The test process is a producer
with no plugin either. Every process runs the recording hooks of ``tests.pools.hooks``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from oxify import ExecutionState, NodeState
from oxify import events as ev
from tests.cluster import TEST_REDIS_URL, Cluster, cluster_env, empty_database
from tests.pools import hooks
from tests.support import END, START, build, custom

POOLS_URL = TEST_REDIS_URL.rsplit("/", 1)[0] + "/13"
RESULT_TTL = 3
ISSUE = "issue 8: pools carry only their own executors"


def _env(plugins: str) -> dict[str, str]:
    return cluster_env(
        POOLS_URL,
        OXIFY_PLUGINS=plugins,
        OXIFY_HOOKS="tests.pools.hooks:make",
        OXIFY_RESULT_TTL=str(RESULT_TTL),
    )


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    db = empty_database(POOLS_URL)
    c = Cluster(POOLS_URL, log_dir=tmp_path_factory.mktemp("pools"))
    c.start("orchestrator", "orchestrator", "--concurrency", "4", env=_env(""))
    c.start("control", "worker", "--pool", "control", "--concurrency", "4", env=_env(""))
    for plugin in ("alpha", "beta", "gamma"):  # private pools: a queue each, no built-in one
        args = ("worker", "--queue", f"acme.{plugin}", "--concurrency", "4")
        c.start(plugin, *args, env=_env(f"tests.pools.{plugin}"))
    try:
        c.wait_ready(["orchestrator", "control", "acme.alpha", "acme.beta", "acme.gamma"])
        yield c
    finally:
        c.stop()
        db.flushdb()


@pytest.fixture(scope="module")
def producer(pools: Cluster) -> Any:
    """A producer with no plugin (the default registry only)."""
    from oxify.client import Client

    return Client(pools.url)


def acme(plugin: str, text: str, **options: Any) -> dict[str, Any]:
    return custom(f"acme.{plugin}", input=text, **options)


def _queue(plugin: str) -> dict[str, Any]:
    return {"queue": f"acme.{plugin}"}


def pipeline() -> Any:
    """start → a (alpha) → route (Switch) → b (beta) | x → c (gamma), d (alpha) → end."""
    switch = {
        "type": "Switch",
        "config": {
            "switch_on": "{{a.by}}",
            "cases": [{"match_value": "alpha", "action": "b"}],
            "default_case": "x",
        },
    }
    nodes = {
        "start": START,
        "a": acme("alpha", "{{x}}"),
        "route": switch,
        "b": acme("beta", "{{a.text}}"),
        "x": custom("oxify.value", value="wrong branch"),
        "c": acme("gamma", "{{b.text}}"),
        "d": acme("alpha", "{{b.text}}"),
        "end": {"type": "End", "config": {"outputs": {"c": "{{c.text}}", "d": "{{d.text}}"}}},
    }
    edges = "start>a, a>route, route>b, route>x, b>c, b>d, c>end, d>end, x>end"
    return build(
        nodes, edges, a=_queue("alpha"), b=_queue("beta"), c=_queue("gamma"), d=_queue("alpha")
    )


@pytest.mark.parametrize("mode", ["levels", "dataflow"])
def test_each_pool_runs_only_its_own_plugin(producer, mode):
    result = producer.wait(producer.submit(pipeline(), {"x": 7}, mode=mode), timeout=60)
    assert result.state is ExecutionState.COMPLETED, result.error
    assert result.outputs == {"c": "7+alpha+beta+gamma", "d": "7+alpha+beta+alpha"}
    assert result.node("x").state is NodeState.SKIPPED
    assert {result.node(n).output["by"] for n in "abcd"} == {"alpha", "beta", "gamma"}


def _two_then_one() -> Any:
    """start → p (alpha, slow), q (beta, slow) → r (gamma) → end."""
    nodes = {
        "start": START,
        "p": acme("alpha", "{{x}}", seconds=1.0),
        "q": acme("beta", "{{x}}", seconds=1.0),
        "r": acme("gamma", "{{p.text}}/{{q.text}}"),
        "end": {"type": "End", "config": {"outputs": {"r": "{{r.text}}"}}},
    }
    return build(
        nodes,
        "start>p, start>q, p>r, q>r, r>end",
        p=_queue("alpha"),
        q=_queue("beta"),
        r=_queue("gamma"),
    )


def _wait_started(client: Any, eid: str, nodes: set[str]) -> None:
    seen: set[str] = set()
    for event in client.events(eid, timeout=30):
        if event.type == ev.NODE_STARTED:
            seen.add(event.data["node_id"])
            if nodes <= seen:
                return
    raise AssertionError(f"{nodes - seen} never started")


def _until(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["levels", "dataflow"])
def test_pause_and_resume_from_a_producer_without_plugins(producer, mode):
    eid = producer.submit(_two_then_one(), {"x": 1}, mode=mode)
    _wait_started(producer, eid, {"p", "q"})
    producer.pause(eid)
    done = {"p", "q"}
    _until(lambda: all(producer.get(eid).node(n).state is NodeState.SUCCEEDED for n in done))
    time.sleep(0.5)  # whoever drives now holds r back
    paused = producer.get(eid)
    assert paused.state is ExecutionState.PAUSED, paused.error
    assert paused.node("r").state is NodeState.QUEUED
    producer.resume(eid)
    result = producer.wait(eid, timeout=60)
    assert result.state is ExecutionState.COMPLETED, result.error
    assert result.outputs == {"r": "1+alpha/1+beta+gamma"}


def test_cancel_then_resume_from_a_producer_without_plugins(producer):
    eid = producer.submit(_two_then_one(), {"x": 2})
    _wait_started(producer, eid, {"p"})
    producer.cancel(eid)
    cancelled = producer.wait(eid, timeout=30)
    assert cancelled.state is ExecutionState.CANCELLED
    producer.resume(eid)
    result = producer.wait(eid, timeout=60)
    assert result.state is ExecutionState.COMPLETED, result.error
    assert result.outputs == {"r": "2+alpha/2+beta+gamma"}


def test_hooks_run_on_every_process_and_a_raising_hook_fails_nothing(pools):
    from oxify.client import Client

    recording = hooks.RecordingHooks(pools.url)
    client = Client(pools.url, hooks=recording)
    wf = build(
        {"start": START, "boom": custom("oxify.value", value="fine"), "end": END},
        "start>boom, boom>end",
    )
    eid = client.submit(wf, mode="dataflow")
    result = client.wait(eid, timeout=30)
    assert result.state is ExecutionState.COMPLETED, result.error
    assert result.node("boom").output == "fine"
    stored = [e.type for e in client.events(eid, follow=False)]
    # each event is seen once, by the hooks of the process that wrote it
    _until(lambda: len(hooks.seen(pools.url, eid)) >= len(stored), timeout=10)
    assert sorted(hooks.seen(pools.url, eid)) == sorted(stored)


def test_a_finished_execution_leaves_no_key_behind(producer, pools):
    import redis

    db = redis.Redis.from_url(pools.url, decode_responses=True)
    key = f"order-{uuid.uuid4().hex}"
    wf = build(
        {"start": START, "a": acme("alpha", "{{x}}"), "end": END},
        "start>a, a>end",
        a=_queue("alpha"),
    )
    eid = producer.submit(wf, {"x": 1}, idempotency_key=key)
    assert producer.wait(eid, timeout=30).ok

    def leftovers() -> list[str]:
        keys = [k for k in db.scan_iter("oxify:*") if eid in k or k.endswith(key)]
        keys += [f"oxify:active:{eid}"] if db.zscore("oxify:active", eid) is not None else []
        return keys

    deadline = time.monotonic() + RESULT_TTL + 10
    while leftovers():
        assert time.monotonic() < deadline, f"left behind: {leftovers()}"
        time.sleep(0.1)
    began = time.monotonic()
    again = producer.submit(wf, {"x": 1}, idempotency_key=key)
    assert again != eid  # the key expired with its execution: a new one
    assert time.monotonic() - began < 1.0
    assert producer.wait(again, timeout=30).ok
