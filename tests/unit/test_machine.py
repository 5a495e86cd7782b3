"""The pure state machine: fed events by hand, no threads, no clock."""

from __future__ import annotations

import random

from oxify.engine.machine import (
    CancelNodes,
    ExecutionFinished,
    LevelCompleted,
    LevelStarted,
    Machine,
    NodeFailure,
    NodeFinished,
    NodeRetrying,
    RunNode,
    retry_delay,
)
from oxify.engine.plan import build_plan
from oxify.engine.state import ExecutionState, NodeState, SkipReason
from oxify.model.workflow import RetryConfig
from tests.support import END, START, build, if_else, value


def machine(wf, **kw):
    return Machine(wf, build_plan(wf), rng=random.Random(1), **kw)


def runs(actions):
    return [(a.node_id, a.attempt) for a in actions if isinstance(a, RunNode)]


DIAMOND = build(
    {"start": START, "a": value(1), "b": value(2), "c": value(3), "end": END},
    "start>a, start>b, a>c, b>c, c>end",
)


def test_levels_mode_dispatches_a_level_at_a_time():
    m = machine(DIAMOND)
    rec = m.new_record("e1", {})
    acts = m.start(rec, 0.0)
    assert acts[0] == LevelStarted(0, ("start",))
    assert runs(acts) == [("start", 1)]
    assert m.node_started(rec, "start", 1, 0.1)
    acts = m.node_succeeded(rec, "start", 1, {}, 0.2)
    assert LevelCompleted(0) in acts and LevelStarted(1, ("a", "b")) in acts
    assert runs(acts) == [("a", 1), ("b", 1)]
    m.node_started(rec, "a", 1, 0.3)
    assert runs(m.node_succeeded(rec, "a", 1, 1, 0.4)) == []  # c waits for b
    acts = m.node_succeeded(rec, "b", 1, 2, 0.5)
    assert runs(acts) == [("c", 1)]
    m.node_succeeded(rec, "c", 1, 3, 0.6)
    acts = m.node_succeeded(rec, "end", 1, {}, 0.7)
    assert acts[-1] == ExecutionFinished(ExecutionState.COMPLETED)
    assert rec.state is ExecutionState.COMPLETED
    assert rec.nodes["a"].started_at == 0.3 and rec.nodes["a"].finished_at == 0.4
    assert rec.started_at == 0.0 and rec.finished_at == 0.7


def test_dataflow_mode_does_not_wait_for_unrelated_nodes():
    wf = build(
        {"start": START, "slow": value(1), "fast1": value(2), "fast2": value(3), "end": END},
        "start>slow, start>fast1, fast1>fast2, slow>end, fast2>end",
    )
    levels, dataflow = machine(wf), machine(wf, mode="dataflow")
    for m, expect in ((levels, []), (dataflow, [("fast2", 1)])):
        rec = m.new_record("e", {})
        m.start(rec, 0)
        m.node_succeeded(rec, "start", 1, {}, 0)
        # fast1 finishes while slow still runs: only dataflow starts fast2 now
        assert runs(m.node_succeeded(rec, "fast1", 1, 2, 1)) == expect
    assert not any(
        isinstance(a, LevelStarted) for a in dataflow.start(dataflow.new_record("x", {}), 0)
    )


def test_duplicate_and_stale_results_are_ignored():
    m = machine(DIAMOND)
    rec = m.new_record("e", {})
    m.start(rec, 0)
    assert m.node_succeeded(rec, "start", 1, {"first": True}, 1)
    assert m.node_succeeded(rec, "start", 1, {"second": True}, 2) == []
    assert m.node_failed(rec, "start", 1, NodeFailure("late"), 3) == []
    assert rec.nodes["start"].output == {"first": True}
    assert rec.nodes["start"].state is NodeState.SUCCEEDED
    assert not m.node_started(rec, "start", 1, 4)
    assert m.node_succeeded(rec, "a", 7, 1, 5) == []  # wrong attempt
    assert rec.finished_count == 1


def test_retry_then_stale_attempt_result_ignored():
    wf = build(
        {"start": START, "f": value(1), "end": END},
        "start>f, f>end",
        f={
            "retry_config": {
                "max_retries": 2,
                "initial_delay_ms": 100,
                "backoff_multiplier": 3.0,
                "max_delay_ms": 250,
            }
        },
    )
    m = machine(wf)
    rec = m.new_record("e", {})
    m.start(rec, 0)
    m.node_succeeded(rec, "start", 1, {}, 0)
    acts = m.node_failed(rec, "f", 1, NodeFailure("net", retryable=True), 1)
    retry = next(a for a in acts if isinstance(a, NodeRetrying))
    run = next(a for a in acts if isinstance(a, RunNode))
    assert run.node_id == "f" and run.attempt == 2 and 0.1 <= run.delay < 0.11
    assert retry.delay == run.delay and retry.error == "net"
    assert rec.nodes["f"].state is NodeState.QUEUED and rec.nodes["f"].attempts == 2
    assert m.node_succeeded(rec, "f", 1, "stale", 2) == []  # attempt 1 came back late
    acts = m.node_failed(rec, "f", 2, NodeFailure("net", retryable=True), 3)
    assert 0.25 <= next(a for a in acts if isinstance(a, RunNode)).delay < 0.275  # capped
    acts = m.node_failed(rec, "f", 3, NodeFailure("net", retryable=True), 4)
    assert acts[-1] == ExecutionFinished(ExecutionState.FAILED, "node f failed: net")
    assert rec.nodes["f"].attempts == 3 and rec.nodes["end"].state is NodeState.CANCELLED


def test_retry_delay_formula():
    policy = RetryConfig(
        max_retries=5, initial_delay_ms=1000, backoff_multiplier=2.0, max_delay_ms=5000
    )
    assert [retry_delay(policy, n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    rng = random.Random(3)
    jittered = [retry_delay(policy, 1, rng) for _ in range(200)]
    assert all(1.0 <= d < 1.1 for d in jittered) and len(set(jittered)) > 100


def test_if_else_routes_prune_and_join():
    wf = build(
        {
            "start": START,
            "c": if_else("x", "t", "f"),
            "t": value(1),
            "f": value(2),
            "j": value(3),
            "end": END,
        },
        "start>c, c>t, c>f, t>j, f>j, j>end",
    )
    for mode in ("levels", "dataflow"):
        m = machine(wf, mode=mode)
        rec = m.new_record("e", {})
        m.start(rec, 0)
        m.node_succeeded(rec, "start", 1, {}, 0)
        acts = m.node_succeeded(rec, "c", 1, {"result": True}, 0, routes=["t"])
        assert NodeFinished("f", NodeState.SKIPPED) in acts
        assert rec.nodes["f"].skip_reason is SkipReason.BRANCH_NOT_TAKEN
        assert runs(acts) == [("t", 1)]
        assert runs(m.node_succeeded(rec, "t", 1, 1, 0)) == [("j", 1)]


def test_long_pruned_chain_skips_without_recursion():
    n = 3000
    nodes = {"start": START, "c": if_else("x", "yes", "p0"), "yes": value(1)}
    nodes |= {f"p{i}": value(i) for i in range(n)}
    nodes["end"] = END
    edges = ["start>c", "c>yes", "c>p0", "yes>end", f"p{n - 1}>end"]
    edges += [f"p{i}>p{i + 1}" for i in range(n - 1)]
    wf = build(nodes, ", ".join(edges))
    for mode in ("levels", "dataflow"):
        m = machine(wf, mode=mode)
        rec = m.new_record("e", {})
        m.start(rec, 0)
        m.node_succeeded(rec, "start", 1, {}, 0)
        m.node_succeeded(rec, "c", 1, {}, 0, routes=["yes"])
        m.node_succeeded(rec, "yes", 1, 1, 0)
        assert all(rec.nodes[f"p{i}"].state is NodeState.SKIPPED for i in range(n))
        if mode == "dataflow":
            assert runs(m.node_succeeded(rec, "yes", 1, 1, 0)) == []
        assert rec.nodes["end"].state is NodeState.QUEUED


def test_continue_on_error_marks_dependents_upstream_failed():
    m = machine(DIAMOND, continue_on_error=True)
    rec = m.new_record("e", {})
    m.start(rec, 0)
    m.node_succeeded(rec, "start", 1, {}, 0)
    m.node_failed(rec, "a", 1, NodeFailure("boom"), 0)
    acts = m.node_succeeded(rec, "b", 1, 2, 0)
    assert rec.nodes["c"].skip_reason is SkipReason.UPSTREAM_FAILED
    assert rec.nodes["end"].skip_reason is SkipReason.UPSTREAM_FAILED
    assert acts[-1] == ExecutionFinished(ExecutionState.COMPLETED)
    assert rec.failed_nodes == ["a"]


def test_cancel_reports_active_nodes_and_ignores_later_results():
    m = machine(DIAMOND)
    rec = m.new_record("e", {})
    m.start(rec, 0)
    m.node_succeeded(rec, "start", 1, {}, 0)
    m.node_started(rec, "a", 1, 0)
    acts = m.cancel(rec, 5, "stop")
    assert acts == [CancelNodes(("a", "b")), ExecutionFinished(ExecutionState.CANCELLED, "stop")]
    assert {n: r.state for n, r in rec.nodes.items()} == {
        "start": NodeState.SUCCEEDED,
        "a": NodeState.CANCELLED,
        "b": NodeState.CANCELLED,
        "c": NodeState.CANCELLED,
        "end": NodeState.CANCELLED,
    }
    assert rec.nodes["a"].finished_at == 5 and rec.nodes["b"].finished_at is None
    assert m.node_succeeded(rec, "a", 1, 1, 6) == []
    assert m.cancel(rec, 7) == [] and m.fail(rec, "x", 7) == []


def test_timeout_actions():
    wf = build(
        {"start": START, "s": value(1), "d": value(2), "f": value(3), "end": END},
        "start>s, start>d, start>f, s>end, d>end, f>end",
        s={"timeout_config": {"execution_timeout_ms": 10, "timeout_action": "Skip"}},
        d={
            "timeout_config": {
                "execution_timeout_ms": 10,
                "timeout_action": {"UseDefault": "[1, 2]"},
            }
        },
        f={"timeout_config": {"execution_timeout_ms": 10, "timeout_action": "Fail"}},
    )
    m = machine(wf, continue_on_error=True)
    rec = m.new_record("e", {})
    m.start(rec, 0)
    m.node_succeeded(rec, "start", 1, {}, 0)
    timeout = NodeFailure("timed out", retryable=True, timed_out=True)
    m.node_failed(rec, "s", 1, timeout, 1)
    m.node_failed(rec, "d", 1, timeout, 1)
    m.node_failed(rec, "f", 1, timeout, 1)
    assert (
        rec.nodes["s"].state is NodeState.SKIPPED
        and rec.nodes["s"].skip_reason is SkipReason.TIMEOUT
    )
    assert rec.nodes["d"].state is NodeState.SUCCEEDED and rec.nodes["d"].output == [1, 2]
    assert rec.nodes["f"].state is NodeState.FAILED
    # a non-timeout failure ignores the timeout action
    m2 = machine(wf, continue_on_error=True)
    rec2 = m2.new_record("e", {})
    m2.start(rec2, 0)
    m2.node_succeeded(rec2, "start", 1, {}, 0)
    m2.node_failed(rec2, "s", 1, NodeFailure("crash"), 1)
    assert rec2.nodes["s"].state is NodeState.FAILED


def test_counters_are_consistent_at_the_end():
    m = machine(DIAMOND, mode="dataflow")
    rec = m.new_record("e", {})
    pending = m.start(rec, 0)
    while rec.state is ExecutionState.RUNNING:
        batch = [a for a in pending if isinstance(a, RunNode)]
        pending = []
        for action in batch:
            m.node_started(rec, action.node_id, action.attempt, 1)
            pending += m.node_succeeded(rec, action.node_id, action.attempt, None, 2)
    assert rec.finished_count == 5
    assert all(r.pending == 0 for r in rec.nodes.values())
    assert rec.level_remaining == [0, 0, 0, 0]
