"""Durable distributed executions with real worker processes: a worker SIGKILLed
mid-execution, the execution given up (timed out), then resumed: the same final outputs as
an uninterrupted run, and the nodes that had succeeded are not run again."""

from __future__ import annotations

import uuid
from typing import Any

from oxify import ExecutionState
from tests import plugins
from tests.integration.test_distributed import _kill_worker, wait_for_call
from tests.support import START, build, custom


def _pipeline(tag: str, slow: float, queue: str = "oxify.killme") -> Any:
    def count(mark: str, output: str, seconds: float = 0) -> dict[str, Any]:
        return custom("test.count", tally=tag, mark=mark, output=output, seconds=seconds)

    nodes = {
        "start": START,
        "a": count("a", "{{x}}-a"),
        "b": count("b", "{{a}}+b", seconds=slow),
        "c": count("c", "{{b}}!"),
        "end": {"type": "End", "config": {"outputs": {"result": "{{c}}"}}},
    }
    return build(nodes, "start>a, a>b, b>c, c>end", b={"queue": queue})


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
