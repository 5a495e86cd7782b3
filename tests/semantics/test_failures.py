"""Retries with backoff, per-node timeouts and their actions, continue_on_error, cancel,
workflow timeout, unavailable kinds: the same answers in every runner."""

from __future__ import annotations

import threading
import time

import pytest

import oxify
from oxify import ExecutionState, NodeState
from oxify import events as ev
from tests import plugins
from tests.support import END, START, Recorder, build, custom, rec, value

FAST_RETRY = {
    "max_retries": 3,
    "initial_delay_ms": 20,
    "backoff_multiplier": 2.0,
    "max_delay_ms": 1000,
}


def test_retry_with_exponential_backoff_then_success(runner):
    wf = build(
        {"start": START, "flaky": custom("oxify.fail", times=2, output="finally"), "end": END},
        "start>flaky, flaky>end",
        flaky={"retry_config": FAST_RETRY},
    )
    events: list[oxify.Event] = []
    started = time.monotonic()
    result = runner.run(wf, events=events, seed=7)
    elapsed = time.monotonic() - started
    assert result.state is ExecutionState.COMPLETED
    node = result.node("flaky")
    assert node.state is NodeState.SUCCEEDED and node.output == "finally" and node.attempts == 3
    retries = [e.data for e in events if e.type == ev.NODE_RETRY]
    assert [r["attempt"] for r in retries] == [1, 2]
    # delay n = initial * multiplier**(n-1), stretched by at most 10 % jitter
    for r, base in zip(retries, (0.020, 0.040), strict=True):
        assert base <= r["delay"] < base * 1.1 + 1e-9
        assert r["error"] == "failed on purpose"
    assert elapsed >= 0.06


def test_retry_delay_is_capped_by_max_delay(runner):
    policy = {
        "max_retries": 4,
        "initial_delay_ms": 10,
        "backoff_multiplier": 10.0,
        "max_delay_ms": 30,
    }
    wf = build(
        {"start": START, "f": custom("oxify.fail", times=4, output=1), "end": END},
        "start>f, f>end",
        f={"retry_config": policy},
    )
    events: list[oxify.Event] = []
    result = runner.run(wf, events=events)
    delays = [e.data["delay"] for e in events if e.type == ev.NODE_RETRY]
    assert result.node("f").attempts == 5
    assert len(delays) == 4
    assert 0.010 <= delays[0] < 0.011 + 1e-9
    assert all(0.030 <= d < 0.033 + 1e-9 for d in delays[1:])


def test_retries_exhausted_fails_the_run(runner):
    wf = build(
        {"start": START, "f": custom("oxify.fail", message="boom"), "after": value(1), "end": END},
        "start>f, f>after, after>end",
        f={"retry_config": {**FAST_RETRY, "max_retries": 2}},
    )
    result = runner.run(wf)
    assert result.state is ExecutionState.FAILED
    assert result.node("f").state is NodeState.FAILED
    assert result.node("f").attempts == 3
    assert result.node("f").error == "boom"
    assert result.node("after").state is NodeState.CANCELLED
    assert result.failed_nodes == ["f"]
    assert "boom" in result.error and "f" in result.error
    assert result.outputs is None


def test_non_retryable_errors_are_not_retried(runner):
    wf = build(
        {
            "start": START,
            "f": custom("oxify.fail", message="bad input", retryable=False),
            "end": END,
        },
        "start>f, f>end",
        f={"retry_config": FAST_RETRY},
    )
    result = runner.run(wf)
    assert result.node("f").attempts == 1
    assert result.state is ExecutionState.FAILED


def test_without_retry_config_a_retryable_error_fails_at_once(runner):
    wf = build({"start": START, "f": custom("oxify.fail"), "end": END}, "start>f, f>end")
    assert runner.run(wf).node("f").attempts == 1


def _slow(
    timeout_ms: int, action: object, sleep: float = 5.0, **extra: object
) -> dict[str, object]:
    return {
        "timeout_config": {"execution_timeout_ms": timeout_ms, "timeout_action": action},
        **extra,
    }


def test_timeout_fail(runner):
    wf = build(
        {"start": START, "slow": custom("oxify.sleep", seconds=5, output="late"), "end": END},
        "start>slow, slow>end",
        slow=_slow(100, "Fail"),
    )
    started = time.monotonic()
    result = runner.run(wf)
    assert time.monotonic() - started < 4.0  # the node sleeps 5 s: it was not waited for
    assert result.state is ExecutionState.FAILED
    assert result.node("slow").state is NodeState.FAILED
    assert "timed out after 0.1 s" in result.node("slow").error


def test_timeout_skip_prunes_dependents_but_run_completes(runner):
    wf = build(
        {
            "start": START,
            "slow": custom("oxify.sleep", seconds=5),
            "after": value(1),
            "other": value(2),
            "end": END,
        },
        "start>slow, slow>after, start>other, after>end, other>end",
        slow=_slow(100, "Skip"),
    )
    result = runner.run(wf)
    assert result.state is ExecutionState.COMPLETED
    assert result.node("slow").state is NodeState.SKIPPED
    assert result.node("slow").skip_reason == "timeout"
    assert result.node("after").state is NodeState.SKIPPED
    assert result.node("after").skip_reason == "upstream_skipped"
    assert result.outputs == {"other": 2}


@pytest.mark.parametrize(
    ("default", "expected"), [('{"answer": 42}', {"answer": 42}), ("plain text", "plain text")]
)
def test_timeout_use_default(runner, default, expected):
    wf = build(
        {
            "start": START,
            "slow": custom("oxify.sleep", seconds=5),
            "use": value("{{slow}}"),
            "end": END,
        },
        "start>slow, slow>use, use>end",
        slow=_slow(100, {"UseDefault": default}),
    )
    result = runner.run(wf)
    assert result.state is ExecutionState.COMPLETED
    assert result.node("slow").state is NodeState.SUCCEEDED
    assert result.node("slow").output == expected
    assert result.outputs == {"use": expected}


def test_timed_out_attempts_are_retried(runner):
    wf = build(
        {"start": START, "slow": custom("test.count", seconds=2), "end": END},
        "start>slow, slow>end",
        slow={
            "timeout_config": {"execution_timeout_ms": 100, "timeout_action": "Skip"},
            "retry_config": {
                "max_retries": 2,
                "initial_delay_ms": 1,
                "backoff_multiplier": 1.0,
                "max_delay_ms": 1,
            },
        },
    )
    result = runner.run(wf)
    assert result.node("slow").attempts == 3
    assert result.node("slow").state is NodeState.SKIPPED
    assert plugins.calls(result.execution_id, "slow") == [1, 2, 3]


def test_execution_config_node_timeout_applies_to_nodes_without_timeout_config(runner):
    wf = build(
        {"start": START, "slow": custom("oxify.sleep", seconds=5), "end": END},
        "start>slow, slow>end",
    )
    result = runner.run(wf, node_timeout=0.1)
    assert result.state is ExecutionState.FAILED
    assert "timed out" in result.node("slow").error


def test_workflow_timeout(runner):
    wf = build(
        {"start": START, "slow": custom("oxify.sleep", seconds=5), "end": END},
        "start>slow, slow>end",
    )
    started = time.monotonic()
    result = runner.run(wf, timeout=0.2)
    assert time.monotonic() - started < 4.0  # the node sleeps 5 s: it was not waited for
    assert result.state is ExecutionState.FAILED
    assert result.error == "execution timed out after 0.2 s"
    assert result.node("slow").state is NodeState.CANCELLED


def test_continue_on_error_skips_dependents_and_completes(runner):
    wf = build(
        {
            "start": START,
            "bad": custom("oxify.fail", message="nope"),
            "child": value("c"),
            "grandchild": value("g"),
            "good": value("fine"),
            "end": END,
        },
        "start>bad, bad>child, child>grandchild, start>good, grandchild>end, good>end",
    )
    result = runner.run(wf, continue_on_error=True)
    assert result.state is ExecutionState.COMPLETED
    assert result.failed_nodes == ["bad"]
    assert result.node("bad").state is NodeState.FAILED and result.node("bad").error == "nope"
    assert result.node("child").skip_reason == "upstream_failed"
    assert result.node("grandchild").skip_reason == "upstream_failed"
    assert result.node("good").state is NodeState.SUCCEEDED
    assert result.node("end").state is NodeState.SKIPPED
    assert result.outputs is None


def test_continue_on_error_join_with_a_failed_dependency_is_skipped(runner):
    wf = build(
        {
            "start": START,
            "bad": custom("oxify.fail"),
            "ok": value(1),
            "join": value("j"),
            "end": END,
        },
        "start>bad, start>ok, bad>join, ok>join, join>end",
    )
    result = runner.run(wf, continue_on_error=True)
    assert result.node("join").state is NodeState.SKIPPED
    assert result.node("join").skip_reason == "upstream_failed"


@pytest.mark.parametrize("kind", ["LLM", "Retriever", "Code", "Tool", "Approval", "Form", "Vision"])
def test_kinds_without_executor_fail_clearly(runner, kind):
    configs = {
        "LLM": {"provider": "openai", "model": "gpt-4o", "prompt_template": "hi"},
        "Retriever": {"db_type": "qdrant", "collection": "docs", "query": "q", "top_k": 3},
        "Code": {"runtime": "wasm", "code": "(module)", "output": "out"},
        "Tool": {"server_id": "s", "tool_name": "t"},
        "Approval": {"message": "ok?"},
        "Form": {"title": "form"},
        "Vision": {"provider": "mock", "image_input": "img.png"},
    }
    # the node goes to a worker that lacks its executor (the test cluster's control pool;
    # with no worker on its own pool's queue it would wait there for one)
    wf = build(
        {"start": START, "n": {"type": kind, "config": configs[kind]}, "end": END},
        "start>n, n>end",
        n={"queue": "oxify.control"},
    )
    result = runner.run(wf)
    assert result.state is ExecutionState.FAILED
    assert f"{kind} nodes are not available in this installation" in result.node("n").error
    assert result.node("n").attempts == 1


def test_unknown_custom_plugin_fails_listing_known_plugins(runner):
    wf = build({"start": START, "n": custom("acme.missing"), "end": END}, "start>n, n>end")
    result = runner.run(wf)
    assert "no executor for Custom plugin 'acme.missing'" in result.node("n").error
    assert "oxify.noop" in result.node("n").error


def test_cancel_stops_running_and_queued_nodes():
    recorder = Recorder()
    wf = build(
        {"start": START, "slow": rec(sleep=10), "after": rec(), "end": END},
        "start>slow, slow>after, after>end",
    )
    engine = oxify.Engine(registry=recorder.registry())
    for mode in ("levels", "dataflow"):
        started = threading.Event()
        execution = engine.start(
            wf,
            mode=mode,
            on_event=lambda e, s=started: (
                e.type == ev.NODE_STARTED and e.data["node_id"] == "slow" and s.set()
            ),
        )
        assert started.wait(5)
        began = time.monotonic()
        execution.cancel("user asked")
        result = execution.wait(timeout=5)
        assert time.monotonic() - began < 3.0  # the node sleeps 10 s
        assert result.state is ExecutionState.CANCELLED
        assert result.error == "user asked"
        assert result.node("slow").state is NodeState.CANCELLED
        assert result.node("after").state is NodeState.CANCELLED
        assert result.node("start").state is NodeState.SUCCEEDED
        types = [e.type for e in execution.event_log]
        assert types[-1] == ev.WORKFLOW_CANCELLED
        assert ev.NODE_CANCELLED in types
    assert recorder.count("after") == 0


def test_engine_cancel_by_id():
    wf = build(
        {"start": START, "slow": custom("oxify.sleep", seconds=10), "end": END},
        "start>slow, slow>end",
    )
    engine = oxify.Engine()
    execution = engine.start(wf, execution_id="exec-1")
    deadline = time.monotonic() + 5
    while (
        execution.record.nodes["slow"].state is not NodeState.RUNNING
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    engine.cancel("exec-1")
    assert execution.wait(5).state is ExecutionState.CANCELLED
    with pytest.raises(oxify.OxifyError, match="no running execution"):
        engine.cancel("exec-1")
