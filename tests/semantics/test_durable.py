"""Durable executions in every runner: pause/resume, checkpoints, resume, replay, pinning,
and graceful degradation of dependents of failed nodes."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from oxify.engine.state import ExecutionState, NodeState
from oxify.errors import ExecutionError
from tests.plugins import open_gate, tally
from tests.support import END, START, build, custom, expr, value


def count(tag: str, mark: str, output: Any = None, seconds: float = 0) -> dict[str, Any]:
    config: dict[str, Any] = {"tally": tag, "mark": mark, "seconds": seconds}
    if output is not None:
        config["output"] = output
    return custom("test.count", **config)


def gate(name: str, output: Any, tag: str = "") -> dict[str, Any]:
    return custom("test.gate", name=name, output=output, tally=tag)


def _until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _tag() -> str:
    return uuid.uuid4().hex


def _chain(tag: str, gate_name: str | None = None, last: str = "{{b}}.") -> Any:
    """start → a → b (a gate when ``gate_name``) → c → end, each tallied under ``tag``."""
    b = gate(gate_name, "{{a}}+{{x}}", tag) if gate_name else count(tag, "b", "{{a}}+{{x}}")
    nodes = {
        "start": START,
        "a": count(tag, "a", "{{x}}-a"),
        "b": b,
        "c": count(tag, "c", last),
        "end": {"type": "End", "config": {"outputs": {"result": "{{c}}"}}},
    }
    return build(nodes, "start>a, a>b, b>c, c>end")


# -- pause / resume -------------------------------------------------------------------------
def test_pause_holds_new_nodes_until_resumed(runner):
    tag = _tag()
    wf = build(
        {"start": START, "a": count(tag, "a", seconds=1.0), "b": count(tag, "b"), "end": END},
        "start>a, a>b, b>end",
    )
    eid = runner.start(wf)
    _until(lambda: tally(tag) == ["a"])
    runner.pause(eid)
    _until(lambda: runner.state(eid) == "paused")
    time.sleep(1.2)  # a finishes meanwhile; b must not start while paused
    assert tally(tag) == ["a"]
    assert runner.state(eid) == "paused"
    runner.resume(eid)
    result = runner.wait(eid)
    assert result.ok, result.error
    assert tally(tag) == ["a", "b"]
    types = [e.type for e in runner.events(eid)]
    assert types.index("workflow.paused") < types.index("workflow.resumed")


# -- checkpoints ----------------------------------------------------------------------------
def test_checkpoints_follow_the_frequency_and_are_pruned(runner):
    nodes: dict[str, Any] = {"start": START}
    edges = []
    prev = "start"
    for i in range(5):
        nodes[f"n{i}"] = value(i)
        edges.append(f"{prev}>n{i}")
        prev = f"n{i}"
    nodes["end"] = END
    edges.append(f"{prev}>end")
    wf = build(nodes, ", ".join(edges))
    eid = runner.start(wf, checkpoint_frequency="every_n_nodes:1", max_checkpoints=3)
    result = runner.wait(eid)
    assert result.ok, result.error
    listed = runner.checkpoints(eid)
    assert len(listed) == 3
    ids = [int(c["id"]) for c in listed]
    assert ids == sorted(ids) and ids[0] > 1  # older ones were pruned
    assert listed[-1]["reason"] == "completed"
    assert listed[-1]["finished_nodes"] == 7
    created = [e for e in runner.events(eid) if e.type == "checkpoint.created"]
    assert len(created) >= 3


# -- resume ---------------------------------------------------------------------------------
def test_resume_a_failed_execution_reruns_only_what_did_not_succeed(runner):
    tag, name = _tag(), _tag()
    wf = _chain(tag, gate_name=name)
    eid = runner.start(wf, {"x": 1}, checkpoint_frequency="every_level")
    failed = runner.wait(eid)
    assert failed.state is ExecutionState.FAILED
    assert "gate" in failed.error
    open_gate(name)
    runner.resume(eid)
    result = runner.wait(eid)
    assert result.ok, result.error
    assert result.outputs == {"result": "1-a+1."}
    assert tally(tag).count("a") == 1  # a's output was reused, not recomputed
    assert tally(tag).count("c") == 1


def test_resume_with_a_changed_definition_needs_allow_changed(runner):
    tag, name = _tag(), _tag()
    wf = _chain(tag, gate_name=name)
    eid = runner.start(wf, {"x": 1}, checkpoint_frequency="every_level")
    assert runner.wait(eid).state is ExecutionState.FAILED
    changed = _chain(tag, gate_name=name, last="{{b}}!")
    with pytest.raises(ExecutionError, match="pinned to workflow definition"):
        runner.resume(eid, workflow=changed)
    open_gate(name)
    runner.resume(eid, workflow=changed, allow_changed=True)
    result = runner.wait(eid)
    assert result.ok, result.error
    assert result.outputs == {"result": "1-a+1!"}
    assert tally(tag).count("a") == 1
    first = runner.checkpoints(eid)[0]["id"]  # taken under the old definition
    with pytest.raises(ExecutionError, match="now pinned to"):
        runner.resume(eid, checkpoint=first)


def test_a_running_execution_cannot_be_resumed(runner):
    tag = _tag()
    wf = build({"start": START, "a": count(tag, "a", seconds=5), "end": END}, "start>a, a>end")
    eid = runner.start(wf)
    _until(lambda: tally(tag) == ["a"])
    with pytest.raises(ExecutionError, match="running"):
        runner.resume(eid)
    runner.cancel(eid)
    assert runner.wait(eid).state is ExecutionState.CANCELLED


# -- replay ---------------------------------------------------------------------------------
def test_replay_from_the_middle_reuses_upstream_outputs(runner):
    tag = _tag()
    wf = _chain(tag)
    eid = runner.start(wf, {"x": 1})
    first = runner.wait(eid)
    assert first.outputs == {"result": "1-a+1."}
    again = runner.replay(eid, "b", {"x": 2})
    assert again != eid
    result = runner.wait(again)
    assert result.ok, result.error
    assert result.outputs == {"result": "1-a+2."}  # a reused (made with x=1), b and c re-run
    marks = tally(tag)
    assert marks.count("a") == 1  # zero re-executions of the reused node
    assert marks.count("b") == 2 and marks.count("c") == 2
    assert result.node("a").output == "1-a"
    assert result.node("b").attempts == 1  # a new execution: its attempts count afresh
    started = next(e for e in runner.events(again) if e.type == "workflow.started")
    assert started.data["replay_of"] == eid and started.data["from_node"] == "b"


def test_replay_of_an_unknown_node_is_a_clear_error(runner):
    wf = _chain(_tag())
    eid = runner.start(wf, {"x": 1})
    runner.wait(eid)
    with pytest.raises(ExecutionError, match="no node 'nope'"):
        runner.replay(eid, "nope")


# -- graceful degradation -------------------------------------------------------------------
def _degraded() -> Any:
    return build(
        {
            "start": START,
            "bad": custom("oxify.fail", message="down"),
            "use": expr("bad.v + 1"),
            "other": value("fine"),
            "end": END,
        },
        "start>bad, start>other, bad>use, use>end, other>end",
        bad={"default_output": {"v": 41}},
    )


def test_execute_with_defaults_runs_dependents_on_the_default_output(runner):
    result = runner.run(
        _degraded(), continue_on_error=True, on_upstream_failure="execute_with_defaults"
    )
    assert result.ok, result.error
    assert result.node("bad").state is NodeState.FAILED
    assert result.failed_nodes == ["bad"]
    assert result.node("use").output == 42


def test_fail_immediately_fails_when_a_dependent_would_run(runner):
    result = runner.run(_degraded(), continue_on_error=True, on_upstream_failure="fail_immediately")
    assert result.state is ExecutionState.FAILED
    assert result.error == "node use cannot run: dependency bad failed"


def test_skip_is_the_default_strategy(runner):
    result = runner.run(_degraded(), continue_on_error=True)
    assert result.ok
    assert result.node("use").state is NodeState.SKIPPED
    assert result.node("use").skip_reason == "upstream_failed"


def test_pause_reaches_loop_iterations(runner):
    tag = _tag()
    body = {
        "metadata": {"name": "body"},
        "nodes": [
            {"id": "s", "kind": START},
            {"id": "w", "kind": count(tag, "{{item}}", seconds=0.8)},
            {"id": "e", "kind": END},
        ],
        "edges": [{"from": "s", "to": "w"}, {"from": "w", "to": "e"}],
    }
    kind = {
        "type": "Loop",
        "config": {
            "loop_type": {
                "variant": "ForEach",
                "collection_path": "items",
                "item_variable": "item",
                "body": body,
            }
        },
    }
    wf = build({"start": START, "loop": kind, "end": END}, "start>loop, loop>end")
    eid = runner.start(wf, {"items": [1, 2, 3]})
    _until(lambda: tally(tag) == ["1"])
    runner.pause(eid)
    _until(lambda: runner.state(eid) == "paused")
    time.sleep(1.5)  # iteration 1 finishes its node; its End and iteration 2 are held
    assert tally(tag) == ["1"]
    runner.resume(eid)
    result = runner.wait(eid)
    assert result.ok, result.error
    assert tally(tag) == ["1", "2", "3"]


def test_a_completed_execution_is_not_resumed(runner):
    eid = runner.start(_chain(_tag()), {"x": 1})
    assert runner.wait(eid).ok
    with pytest.raises(ExecutionError, match="completed: there is nothing to resume"):
        runner.resume(eid)
