"""Durable distributed executions with real worker processes: a worker SIGKILLed
mid-execution, the execution given up (timed out), then resumed: the same final outputs as
an uninterrupted run, and the nodes that had succeeded are not run again."""

from __future__ import annotations

import uuid
from typing import Any

from oxify import ExecutionState
from tests import plugins
from tests.integration.test_distributed import _kill_worker, wait_for_call
from tests.support import END, START, build, counted_chain, custom


def _pipeline(tag: str, slow: float, queue: str = "oxify.killme") -> Any:
    return counted_chain(tag, slow, b={"queue": queue})


def test_resume_after_a_sigkilled_worker_gives_the_same_outputs(client, cluster):
    plain = _pipeline(uuid.uuid4().hex, 0, queue="oxify.control")
    reference = client.wait(client.submit(plain, {"x": 1}), 60)
    _kill_worker(cluster, "victim")
    tag = uuid.uuid4().hex
    eid = client.submit(
        _pipeline(tag, 1.0), {"x": 1}, timeout=4.0, checkpoint_frequency="every_level"
    )
    wait_for_call(eid, "b")
    cluster.kill("victim")  # mid-node; no worker is left for b's queue
    failed = client.wait(eid, timeout=60)
    assert failed.state is ExecutionState.FAILED
    assert "timed out" in failed.error
    assert client.checkpoints(eid)[-1]["reason"] == "failed"
    _kill_worker(cluster, "rescuer")
    try:
        client.resume(eid)
        result = client.wait(eid, timeout=60)
    finally:
        cluster.kill("rescuer")
    assert result.state is ExecutionState.COMPLETED, result.error
    assert result.outputs == reference.outputs == {"result": "1-a+b!"}
    marks = plugins.tally(tag)
    assert marks.count("a") == 1  # succeeded before the crash: reused
    assert marks.count("b") == 2  # lost with the worker, run again
    assert marks.count("c") == 1
    assert result.node("b").attempts > 1  # attempt numbers keep growing across a resume
    types = [e.type for e in client.events(eid, follow=False)]
    assert types.count("workflow.started") == 1 and "workflow.resumed" in types


class _NoChildStore:
    """A real store that fails to create child executions, as if Redis went away right
    after the parent's step was committed (fault injection, not a mock)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.refused: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def create(self, new: Any, idempotency_key: str | None = None) -> Any:
        if new.parent_id:
            from oxify.store.redis import StoreUnavailable

            self.refused.append(new.execution_id)
            raise StoreUnavailable("connection lost (injected)")
        return self.real.create(new, idempotency_key)


def test_a_child_lost_between_commit_and_creation_is_created_by_the_reconciler(client):
    import time

    from tests.integration.test_distributed import _LosingDispatcher, runtime_on, submit_on

    body = {
        "metadata": {"name": "body"},
        "nodes": [
            {"id": "s", "kind": START},
            {"id": "w", "kind": custom("test.count", output="{{n}}-done")},
            {"id": "e", "kind": {"type": "End", "config": {"outputs": {"r": "{{w}}"}}}},
        ],
        "edges": [{"from": "s", "to": "w"}, {"from": "w", "to": "e"}],
    }
    sub = {"type": "SubWorkflow", "config": {"workflow": body, "input_mappings": {"n": "{{x}}"}}}
    wf = build({"start": START, "sub": sub, "end": END}, "start>sub, sub>end")
    faulty = _NoChildStore(client.store)
    dying = runtime_on(client, _LosingDispatcher(client.runtime.dispatcher), faulty)
    eid = submit_on(dying, wf, {"x": 7})
    dying.driver.advance(eid)  # the step that spawns the child commits; creating it fails
    assert len(faulty.refused) == 1
    assert not client.store.exists(faulty.refused[0])
    reconciler = runtime_on(client, client.runtime.dispatcher)
    deadline = time.monotonic() + 30
    while not client.get(eid).state.terminal:
        assert time.monotonic() < deadline
        reconciler.reconciler.reconcile(0.2)
        time.sleep(0.1)
    result = client.get(eid)
    assert result.ok, result.error
    assert result.node("sub").output["output"] == {"r": "7-done"}
    assert result.node("sub").output["execution_id"] == faulty.refused[0]  # the same child id
