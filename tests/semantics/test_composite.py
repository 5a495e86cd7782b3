"""Composite nodes in every runner: Loop, TryCatch, SubWorkflow, Parallel."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from oxify.engine.state import ExecutionState, NodeState
from tests.plugins import tally
from tests.support import END, START, build, custom, expr


def sub(nodes: dict[str, Any], edges: str, outputs: dict[str, str] | None = None) -> dict[str, Any]:
    """An inline sub-workflow: Start → nodes → End (End's ``outputs`` as given)."""
    end: dict[str, Any] = {"type": "End", "config": {"outputs": outputs}} if outputs else END
    all_nodes = {"s": START, **nodes, "e": end}
    pairs = [p.strip().split(">") for p in edges.split(",") if p.strip()]
    return {
        "metadata": {"name": "body"},
        "nodes": [{"id": n, "name": n, "kind": k} for n, k in all_nodes.items()],
        "edges": [{"from": a, "to": b} for a, b in pairs],
    }


def count(tag: str, mark: str = "", seconds: float = 0, output: Any = None) -> dict[str, Any]:
    config: dict[str, Any] = {"tally": tag, "mark": mark, "seconds": seconds}
    if output is not None:
        config["output"] = output
    return custom("test.count", **config)


def one(kind: dict[str, Any]) -> Any:
    return build({"start": START, "n": kind, "end": END}, "start>n, n>end")


def loop(loop_type: dict[str, Any], max_iterations: int = 1000) -> dict[str, Any]:
    return {"type": "Loop", "config": {"loop_type": loop_type, "max_iterations": max_iterations}}


def peak_children(events: list[Any]) -> int:
    """The most child executions running at once, from a parent's events."""
    running = peak = 0
    for event in events:
        if event.type == "child.started":
            running += 1
            peak = max(peak, running)
        elif event.type == "child.finished":
            running -= 1
    return peak


def _tag() -> str:
    return uuid.uuid4().hex


# -- Loop ------------------------------------------------------------------------------------
def test_foreach_expression_body_as_in_the_oxify_format(runner):
    kind = loop(
        {
            "variant": "ForEach",
            "collection_path": "items",
            "item_variable": "item",
            "index_variable": "i",
            "body_expression": "{{i}}:{{item}}",
        }
    )
    result = runner.run(one(kind), {"items": ["a", "b"]})
    assert result.ok, result.error
    assert result.node("n").output == {
        "loop_type": "foreach",
        "iterations": 2,
        "results": ["0:a", "1:b"],
    }


def test_foreach_with_a_subworkflow_body_in_parallel_keeps_input_order(runner):
    tag = _tag()
    body = sub(
        {"work": count(tag, "{{item}}", seconds=0.05, output="{{item}}-done")},
        "s>work, work>e",
        {"value": "{{work}}", "index": "{{i}}"},
    )
    kind = loop(
        {
            "variant": "ForEach",
            "collection_path": "items",
            "item_variable": "item",
            "index_variable": "i",
            "parallel": True,
            "max_concurrency": 2,
            "body": body,
        }
    )
    wf = one(kind)
    eid = runner.start(wf, {"items": ["a", "b", "c", "d", "e"]})
    result = runner.wait(eid)
    assert result.ok, result.error
    out = result.node("n").output
    assert out["iterations"] == 5
    assert out["results"] == [{"value": f"{x}-done", "index": i} for i, x in enumerate("abcde")]
    assert sorted(tally(tag)) == list("abcde")
    assert peak_children(runner.events(eid)) == 2


def test_loop_over_max_iterations_fails_before_any_work(runner):
    tag = _tag()
    kind = loop(
        {
            "variant": "ForEach",
            "collection_path": "items",
            "item_variable": "item",
            "body": sub({"w": count(tag)}, "s>w, w>e"),
        },
        max_iterations=3,
    )
    result = runner.run(one(kind), {"items": [1, 2, 3, 4]})
    assert result.state is ExecutionState.FAILED
    assert "would run 4 iterations, more than max_iterations (3)" in result.node("n").error
    assert tally(tag) == []


def test_foreach_over_something_else_than_a_list_fails_clearly(runner):
    kind = loop(
        {
            "variant": "ForEach",
            "collection_path": "items",
            "item_variable": "x",
            "body_expression": "{{x}}",
        }
    )
    result = runner.run(one(kind), {"items": {"a": 1}})
    assert "collection_path 'items' is a object, not a list" in result.node("n").error


def test_while_stops_at_the_limit_with_a_clear_error(runner):
    kind = loop(
        {
            "variant": "While",
            "condition": "true",
            "counter_variable": "k",
            "body_expression": "{{k}}",
        },
        max_iterations=5,
    )
    result = runner.run(one(kind))
    assert result.state is ExecutionState.FAILED
    assert "reached max_iterations (5)" in result.node("n").error


def test_while_with_a_subworkflow_body_sees_the_last_result(runner):
    body = sub({"inc": expr("iteration + 1")}, "s>inc, inc>e", {"k": "{{inc}}"})
    kind = loop(
        {"variant": "While", "condition": "iteration == 0 || last.k < 2", "body": body},
        max_iterations=10,
    )
    result = runner.run(one(kind))
    assert result.ok, result.error
    out = result.node("n").output
    assert out == {"loop_type": "while", "iterations": 2, "results": [{"k": 1}, {"k": 2}]}


def test_repeat_count_from_a_template(runner):
    kind = loop(
        {"variant": "Repeat", "count": "{{n}}", "index_variable": "i", "body_expression": "{{i}}"}
    )
    result = runner.run(one(kind), {"n": 3})
    assert result.ok, result.error
    assert result.node("n").output["results"] == [0, 1, 2]


# -- TryCatch -------------------------------------------------------------------------------
def test_try_catch_around_a_failing_subworkflow(runner):
    tag = _tag()
    kind = {
        "type": "TryCatch",
        "config": {
            "try_body": sub({"boom": custom("oxify.fail", message="boom")}, "s>boom, boom>e"),
            "catch_expression": "handled: {{error}}",
            "finally_body": sub({"cleanup": count(tag, "finally")}, "s>cleanup, cleanup>e"),
        },
    }
    result = runner.run(one(kind))
    assert result.ok, result.error
    out = result.node("n").output
    assert out["error_handled"] is True
    assert "boom" in out["error"]
    assert out["catch_result"].startswith("handled: ")
    assert tally(tag) == ["finally"]


def test_try_success_skips_catch_and_runs_finally(runner):
    kind = {
        "type": "TryCatch",
        "config": {
            "try_expression": "{{x}}",
            "catch_expression": "never",
            "finally_expression": "cleaned",
        },
    }
    result = runner.run(one(kind), {"x": 7})
    assert result.node("n").output == {
        "try_result": 7,
        "catch_result": None,
        "finally_result": "cleaned",
        "error_handled": False,
        "error": None,
    }


def test_rethrow_fails_the_node_after_catch_and_finally(runner):
    tag = _tag()
    kind = {
        "type": "TryCatch",
        "config": {
            "try_body": sub({"boom": custom("oxify.fail", message="bad")}, "s>boom, boom>e"),
            "catch_body": sub({"c": count(tag, "catch:{{error}}")}, "s>c, c>e"),
            "finally_body": sub({"f": count(tag, "finally")}, "s>f, f>e"),
            "rethrow": True,
        },
    }
    result = runner.run(one(kind))
    assert result.state is ExecutionState.FAILED
    assert "rethrown after catch" in result.node("n").error
    marks = tally(tag)
    assert marks[0].startswith("catch:") and "bad" in marks[0]
    assert marks[1:] == ["finally"]


def test_try_without_catch_fails_with_the_error(runner):
    kind = {"type": "TryCatch", "config": {"try_expression": "{{missing}}"}}
    result = runner.run(one(kind))
    assert result.state is ExecutionState.FAILED
    assert "try failed" in result.node("n").error and "missing" in result.node("n").error


# -- SubWorkflow ----------------------------------------------------------------------------
def test_subworkflow_from_a_file_with_input_mappings(runner, tmp_path: Path):
    child = sub(
        {"greet": expr("'hello ' + who")},
        "s>greet, greet>e",
        {"greeting": "{{greet}}", "n": "{{count}}"},
    )
    (tmp_path / "child.json").write_text(json.dumps(child))
    kind = {
        "type": "SubWorkflow",
        "config": {
            "workflow_path": "child.json",
            "input_mappings": {"who": "{{name}}", "count": "{{items}}"},
        },
    }
    result = runner.run(one(kind), {"name": "ada", "items": [1, 2]}, base_dir=tmp_path)
    assert result.ok, result.error
    out = result.node("n").output
    assert out["state"] == "completed"
    assert out["output"] == {"greeting": "hello ada", "n": [1, 2]}


def test_subworkflow_output_variable_and_inherit_context(runner):
    child = sub({"both": expr("a + b")}, "s>both, both>e", {"sum": "{{both}}", "other": "x"})
    kind = {
        "type": "SubWorkflow",
        "config": {
            "workflow": child,
            "input_mappings": {"b": "{{two}}"},
            "inherit_context": True,
            "output_variable": "sum",
        },
    }
    result = runner.run(one(kind), {"a": 40, "two": 2})
    assert result.ok, result.error
    assert result.node("n").output["output"] == 42


def test_a_failing_subworkflow_fails_its_node(runner):
    child = sub({"boom": custom("oxify.fail", message="child broke")}, "s>boom, boom>e")
    result = runner.run(one({"type": "SubWorkflow", "config": {"workflow": child}}))
    assert result.state is ExecutionState.FAILED
    assert "child broke" in result.node("n").error


def test_recursion_stops_at_the_depth_limit(runner, tmp_path: Path):
    me = {
        "metadata": {"name": "recursive"},
        "nodes": [
            {"id": "s", "name": "s", "kind": START},
            {
                "id": "again",
                "name": "again",
                "kind": {"type": "SubWorkflow", "config": {"workflow_path": "self.json"}},
            },
            {"id": "e", "name": "e", "kind": END},
        ],
        "edges": [{"from": "s", "to": "again"}, {"from": "again", "to": "e"}],
    }
    (tmp_path / "self.json").write_text(json.dumps(me))
    from oxify.model import load_workflow

    wf = load_workflow(tmp_path / "self.json")
    result = runner.run(wf, base_dir=tmp_path, max_depth=3)
    assert result.state is ExecutionState.FAILED
    assert "depth limit" in result.error or "depth limit" in (result.node("again").error or "")


# -- Parallel -------------------------------------------------------------------------------
def _parallel(strategy: str, tasks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "Parallel", "config": {"strategy": strategy, "tasks": tasks, **extra}}


def test_parallel_wait_all_with_expressions(runner):
    kind = _parallel(
        "WaitAll", [{"id": "a", "expression": "{{x}}"}, {"id": "b", "expression": "b"}]
    )
    result = runner.run(one(kind), {"x": 1})
    assert result.node("n").output == {
        "strategy": "WaitAll",
        "results": {
            "a": {"status": "success", "value": 1},
            "b": {"status": "success", "value": "b"},
        },
    }


def test_parallel_wait_all_fails_on_a_failing_task(runner):
    tasks = [
        {"id": "ok", "body": sub({"v": expr("1")}, "s>v, v>e", {"v": "{{v}}"})},
        {"id": "bad", "body": sub({"f": custom("oxify.fail", message="nope")}, "s>f, f>e")},
    ]
    result = runner.run(one(_parallel("WaitAll", tasks)))
    assert result.state is ExecutionState.FAILED
    assert "task 'bad' error" in result.node("n").error


def test_parallel_race_takes_the_first_and_cancels_the_rest(runner):
    tag = _tag()
    tasks = [
        {"id": "slow", "body": sub({"w": count(tag, "slow", seconds=20)}, "s>w, w>e")},
        {
            "id": "fast",
            "body": sub({"w": count(tag, "fast", output="won")}, "s>w, w>e", {"r": "{{w}}"}),
        },
    ]
    started = time.monotonic()
    result = runner.run(one(_parallel("Race", tasks)))
    assert result.ok, result.error
    assert time.monotonic() - started < 15
    out = result.node("n").output
    assert out["winner"] == "fast"
    assert out["results"] == {"fast": {"status": "success", "value": {"r": "won"}}}


def test_parallel_all_settled_reports_failures(runner):
    tasks = [
        {"id": "ok", "expression": "fine"},
        {"id": "bad", "body": sub({"f": custom("oxify.fail", message="nope")}, "s>f, f>e")},
    ]
    result = runner.run(one(_parallel("AllSettled", tasks)))
    assert result.ok, result.error
    res = result.node("n").output["results"]
    assert res["ok"] == {"status": "success", "value": "fine"}
    assert res["bad"]["status"] == "error" and "nope" in res["bad"]["error"]


def test_parallel_timeout_ms_is_honoured(runner):
    tag = _tag()
    tasks = [
        {"id": "quick", "expression": "q"},
        {"id": "slow", "body": sub({"w": count(tag, "slow", seconds=30)}, "s>w, w>e")},
    ]
    started = time.monotonic()
    result = runner.run(one(_parallel("AllSettled", tasks, timeout_ms=300)))
    assert result.ok, result.error
    assert time.monotonic() - started < 15
    res = result.node("n").output["results"]
    assert res["slow"] == {"status": "timeout", "error": "timed out after 300 ms"}


# -- cancel ---------------------------------------------------------------------------------
def test_cancel_reaches_children_and_loop_iterations(runner):
    tag = _tag()
    kind = loop(
        {
            "variant": "ForEach",
            "collection_path": "items",
            "item_variable": "item",
            "parallel": True,
            "body": sub({"w": count(tag, "{{item}}", seconds=30)}, "s>w, w>e"),
        }
    )
    eid = runner.start(one(kind), {"items": [1, 2, 3]})
    deadline = time.monotonic() + 30
    while len(tally(tag)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(tally(tag)) == 3
    children = [e.data["child_id"] for e in runner.events(eid) if e.type == "child.started"]
    started = time.monotonic()
    runner.cancel(eid)
    result = runner.wait(eid, timeout=30)
    assert result.state is ExecutionState.CANCELLED
    assert result.node("n").state is NodeState.CANCELLED
    for cid in children:
        assert runner.wait(cid, timeout=30).state is ExecutionState.CANCELLED
    assert time.monotonic() - started < 20


def test_a_composite_nodes_own_timeout_bounds_its_children(runner):
    tag = _tag()
    child = sub({"w": count(tag, "slow", seconds=30)}, "s>w, w>e")
    wf = build(
        {"start": START, "n": {"type": "SubWorkflow", "config": {"workflow": child}}, "end": END},
        "start>n, n>end",
        n={"timeout_config": {"execution_timeout_ms": 300, "timeout_action": "Skip"}},
    )
    started = time.monotonic()
    eid = runner.start(wf)
    result = runner.wait(eid, timeout=30)
    assert time.monotonic() - started < 15
    assert result.ok, result.error
    node = result.node("n")
    assert node.state is NodeState.SKIPPED and node.skip_reason == "timeout"
    assert "timed out after 0.3 s" in node.error
    (cid,) = [e.data["child_id"] for e in runner.events(eid) if e.type == "child.started"]
    assert runner.wait(cid, timeout=30).state is ExecutionState.CANCELLED


def test_a_composite_node_is_retried_whole_after_a_delay(runner):
    tag = _tag()
    child = sub(
        {"w": count(tag, "try"), "boom": custom("oxify.fail", message="flaky")},
        "s>w, w>boom, boom>e",
    )
    wf = build(
        {"start": START, "n": {"type": "SubWorkflow", "config": {"workflow": child}}, "end": END},
        "start>n, n>end",
        n={
            "retry_config": {
                "max_retries": 2,
                "initial_delay_ms": 100,
                "backoff_multiplier": 1.0,
                "max_delay_ms": 100,
            }
        },
    )
    eid = runner.start(wf)
    result = runner.wait(eid, timeout=30)
    assert result.state is ExecutionState.FAILED
    assert result.node("n").attempts == 3
    assert tally(tag) == ["try", "try", "try"]  # each attempt ran a new child
    children = {e.data["child_id"] for e in runner.events(eid) if e.type == "child.started"}
    assert len(children) == 3


def test_embedded_children_count_against_max_concurrent_nodes(runner):
    runner.embedded_only("max_concurrent_nodes bounds the embedded thread pool")
    tag = _tag()
    body = sub({"w": count(tag, "{{item}}", seconds=0.05)}, "s>w, w>e")
    kind = loop(
        {
            "variant": "ForEach",
            "collection_path": "items",
            "item_variable": "item",
            "parallel": True,
            "body": body,
        }
    )
    eid = runner.start(one(kind), {"items": list(range(6))}, max_concurrent_nodes=2)
    assert runner.wait(eid).ok
    assert peak_children(runner.events(eid)) == 2
    assert sorted(tally(tag)) == [str(i) for i in range(6)]


def test_waiting_parents_hold_no_worker_slot(runner):
    """Twelve sub-workflows nested in each other: more waiting parents than the test
    worker has threads (8) or than max_concurrent_nodes allows here (2). A parent that held
    a slot while waiting would deadlock this."""
    tag = _tag()
    body: dict[str, Any] = sub(
        {"leaf": count(tag, "leaf", output="bottom")}, "s>leaf, leaf>e", {"v": "{{leaf}}"}
    )
    for _ in range(11):
        node = {"type": "SubWorkflow", "config": {"workflow": body}}
        body = sub({"inner": node}, "s>inner, inner>e", {"v": "{{inner.output.v}}"})
    wf = one({"type": "SubWorkflow", "config": {"workflow": body}})
    options = {} if runner.distributed else {"max_concurrent_nodes": 2}
    result = runner.run(wf, wait_timeout=60, **options)
    assert result.ok, result.error
    assert result.node("n").output["output"] == {"v": "bottom"}
    assert tally(tag) == ["leaf"]
