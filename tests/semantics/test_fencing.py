"""Fencing that survives resets, in every runner: an execution resumed from an older
checkpoint while an attempt of its previous run still works (a call that ignores
cancellation, as a blocking library call does). That attempt's late result must be
refused, the resumed run must complete with results of its own, and a resumed SubWorkflow
runs its child again."""

from __future__ import annotations

import time
import uuid
from typing import Any

from oxify.engine.state import ExecutionState
from tests.plugins import tally
from tests.support import END, START, build, custom

RETRY = {"max_retries": 3, "initial_delay_ms": 10, "backoff_multiplier": 1.0, "max_delay_ms": 10}


def stubborn(tag: str, seconds: float) -> dict[str, Any]:
    return custom("test.stubborn", tally=tag, fail_first=True, seconds=seconds)


def _until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _resume_from_the_oldest_checkpoint_during_a_stubborn_call(
    runner: Any, wf: Any, tag: str
) -> Any:
    """Run ``wf``; once the stubborn node's second call works (its first failed and was
    retried), cancel; resume from the oldest checkpoint (taken before the retry)."""
    eid = runner.start(wf, {}, checkpoint_frequency="every_level")
    _until(lambda: tally(tag) == ["call-1", "call-2"])
    runner.cancel(eid)
    assert runner.wait(eid, timeout=30).state is ExecutionState.CANCELLED
    oldest = runner.checkpoints(eid)[0]["id"]
    runner.resume(eid, checkpoint=oldest)
    return runner.wait(eid, timeout=60)


def test_a_late_result_of_the_cancelled_run_is_refused(runner):
    tag = uuid.uuid4().hex
    wf = build(
        {
            "start": START,
            "b": stubborn(tag, seconds=2.0),
            "c": custom("oxify.value", value="{{b}}!"),
            "end": {"type": "End", "config": {"outputs": {"result": "{{c}}"}}},
        },
        "start>b, b>c, c>end",
        b={"retry_config": RETRY},
    )
    result = _resume_from_the_oldest_checkpoint_during_a_stubborn_call(runner, wf, tag)
    assert result.state is ExecutionState.COMPLETED, result.error
    # call-2 (the cancelled run's) finished while the resumed run worked: refused
    assert result.outputs == {"result": "call-3!"}
    assert tally(tag) == ["call-1", "call-2", "call-3"]
    assert result.node("b").attempts > 2  # attempt numbers never repeat


def test_a_resumed_subworkflow_runs_its_child_again(runner):
    tag = uuid.uuid4().hex
    body = {
        "metadata": {"name": "body"},
        "nodes": [
            {"id": "s", "kind": START},
            {"id": "w", "kind": stubborn(tag, seconds=2.0)},
            {"id": "e", "kind": {"type": "End", "config": {"outputs": {"r": "{{w}}"}}}},
        ],
        "edges": [{"from": "s", "to": "w"}, {"from": "w", "to": "e"}],
    }
    wf = build(
        {"start": START, "sub": {"type": "SubWorkflow", "config": {"workflow": body}}, "end": END},
        "start>sub, sub>end",
        sub={"retry_config": RETRY},
    )
    result = _resume_from_the_oldest_checkpoint_during_a_stubborn_call(runner, wf, tag)
    assert result.state is ExecutionState.COMPLETED, result.error
    assert result.node("sub").output["output"] == {"r": "call-3"}
    assert tally(tag) == ["call-1", "call-2", "call-3"]
    events = runner.events(result.execution_id)
    children = [e.data["child_id"] for e in events if e.type == "child.started"]
    assert len(set(children)) == len(children) == 3  # a new child for every attempt
