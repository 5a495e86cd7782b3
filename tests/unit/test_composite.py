"""Composite nodes: the pure wait logic both runners share, and the real executors called
directly (no runner, no children actually run)."""

from __future__ import annotations

from typing import Any

import pytest

from oxify.engine.scope import Scope
from oxify.errors import NodeError
from oxify.nodes import composite
from oxify.nodes.base import NodeContext
from oxify.nodes.composite import (
    DEFAULT_MAX_DEPTH,
    ChildResult,
    ChildSpec,
    CompositeStep,
    Spawn,
    child_id,
)
from oxify.nodes.loop import LoopExecutor
from oxify.nodes.parallel import ParallelExecutor
from oxify.nodes.subworkflow import SubWorkflowExecutor
from oxify.nodes.trycatch import TryCatchExecutor
from tests.support import END, START, build, value


def context(
    kind: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    *,
    attempt: int = 1,
    depth: int = 0,
    execution_id: str = "e1",
    **node_extra: Any,
) -> NodeContext:
    """A context for node ``n`` of start>n>end, as the engine builds one (no upstream)."""
    wf = build({"start": START, "n": kind or value(0), "end": END}, "start>n, n>end", n=node_extra)
    inputs = inputs or {}
    return NodeContext(
        execution_id=execution_id,
        workflow=wf,
        node=wf.node("n"),
        attempt=attempt,
        inputs=inputs,
        scope_factory=lambda: Scope(inputs, {}, {}),
        upstream={},
        depth=depth,
    )


class Fanout:
    """A test composite executor: spawns ``n`` children (``path:child.yaml`` with input
    ``i``), and when they are done returns their states and outputs, logging each call."""

    def __init__(self, n: int, *, then: Any = None, **spawn: Any) -> None:
        self.n = n
        self.spawn = spawn
        self.then = then
        self.resumed: list[tuple[Any, list[ChildResult]]] = []

    def begin(self, ctx: NodeContext) -> Any:
        children = [ChildSpec("path:child.yaml", {"i": i}, f"child {i}") for i in range(self.n)]
        return Spawn(children, {"n": self.n}, **self.spawn)

    def resume(self, ctx: NodeContext, state: Any, results: list[ChildResult]) -> Any:
        self.resumed.append((state, results))
        if self.then is not None:
            answer, self.then = self.then, None
            return answer
        return {"states": [r.state for r in results], "outputs": [r.output for r in results]}


def statuses(step: CompositeStep) -> list[str]:
    assert step.wait is not None
    return [c.status for c in step.wait.children]


def ids(step: CompositeStep) -> list[str]:
    assert step.wait is not None
    return [c.id for c in step.wait.children]


def done(executor, ctx, step, index, state="completed", output=None, error=None, now=1.0):
    """Report child ``index`` of the wait in ``step`` finished."""
    assert step.wait is not None
    cid = step.wait.children[index].id
    result = ChildResult(f"child {index}", state, output, error, cid)
    return composite.child_done(executor, ctx, step.wait, cid, result, now)


# -- begin ------------------------------------------------------------------------------------


def test_begin_starts_at_most_max_concurrency_children():
    ctx = context()
    executor = Fanout(5, max_concurrency=2)
    step = composite.begin(executor, ctx, now=0.0)
    assert step.wait is not None
    assert step.failure is None and step.cancel == []
    assert statuses(step) == ["running", "running", "pending", "pending", "pending"]
    assert [c.id for c in step.start] == ids(step)[:2]
    assert [c.label for c in step.start] == ["child 0", "child 1"]
    assert step.start[1].ref == "path:child.yaml"
    assert step.start[1].inputs == {"i": 1}
    assert step.wait.seq == 0
    assert step.wait.state == {"n": 5}
    assert executor.resumed == []


def test_begin_without_a_limit_starts_every_child():
    step = composite.begin(Fanout(3), context(), now=0.0)
    assert statuses(step) == ["running"] * 3
    assert len(step.start) == 3


def test_a_finished_child_starts_the_next_pending_one():
    ctx = context()
    executor = Fanout(3, max_concurrency=2)
    step = composite.begin(executor, ctx, now=0.0)
    step = done(executor, ctx, step, 1, output="one")
    assert step is not None and step.wait is not None
    assert statuses(step) == ["running", "completed", "running"]
    assert [c.id for c in step.start] == [ids(step)[2]]
    assert step.wait.children[1].output == "one"
    assert executor.resumed == []


def test_the_wait_survives_plain_data():
    ctx = context()
    executor = Fanout(2, max_concurrency=1)
    step = composite.begin(executor, ctx, now=0.0)
    assert step.wait is not None
    assert composite.Wait.from_dict(step.wait.to_dict()) == step.wait


@pytest.mark.parametrize("which", ["unknown", "pending", "finished"])
def test_a_late_or_unknown_report_is_ignored(which):
    ctx = context()
    executor = Fanout(3, max_concurrency=1)
    step = composite.begin(executor, ctx, now=0.0)
    step = done(executor, ctx, step, 0)  # child 0 completed, child 1 running, child 2 pending
    assert step is not None and step.wait is not None
    cid = {"unknown": "no-such-child", "pending": ids(step)[2], "finished": ids(step)[0]}[which]
    result = ChildResult("late", "failed", None, "boom", cid)
    assert composite.child_done(executor, ctx, step.wait, cid, result, 2.0) is None
    assert executor.resumed == []


# -- until ------------------------------------------------------------------------------------


def test_all_ok_ends_early_on_a_failure():
    ctx = context()
    executor = Fanout(4, max_concurrency=2, until="all_ok")
    step = composite.begin(executor, ctx, now=0.0)
    running = ids(step)[1]
    step = done(executor, ctx, step, 0, "failed", error="boom")
    assert step is not None
    assert step.wait is None
    assert step.failure is None
    assert step.cancel == [running]
    assert step.output == {
        "states": ["failed", "cancelled", "not_started", "not_started"],
        "outputs": [None, None, None, None],
    }
    [(state, results)] = executor.resumed
    assert state == {"n": 4}
    assert results[0].error == "boom"
    assert results[1].error == "cancelled"
    assert results[1].execution_id == running


def test_all_ok_waits_for_every_success():
    ctx = context()
    executor = Fanout(2, until="all_ok")
    step = composite.begin(executor, ctx, now=0.0)
    step = done(executor, ctx, step, 1, output="b")
    assert step is not None and step.wait is not None
    assert step.start == []
    step = done(executor, ctx, step, 0, output="a")
    assert step is not None and step.wait is None
    assert step.output == {"states": ["completed", "completed"], "outputs": ["a", "b"]}
    assert step.cancel == []


def test_first_ok_ends_on_the_first_success():
    ctx = context()
    executor = Fanout(3, until="first_ok")
    step = composite.begin(executor, ctx, now=0.0)
    others = [ids(step)[0], ids(step)[2]]
    step = done(executor, ctx, step, 1, output="winner")
    assert step is not None and step.wait is None
    assert sorted(step.cancel) == sorted(others)
    assert step.output == {
        "states": ["cancelled", "completed", "cancelled"],
        "outputs": [None, "winner", None],
    }


def test_first_ok_goes_on_after_failures_until_all_failed():
    ctx = context()
    executor = Fanout(2, until="first_ok")
    step = composite.begin(executor, ctx, now=0.0)
    step = done(executor, ctx, step, 0, "failed", error="x")
    assert step is not None and step.wait is not None
    assert executor.resumed == []
    step = done(executor, ctx, step, 1, "failed", error="y")
    assert step is not None and step.wait is None
    assert step.output["states"] == ["failed", "failed"]


def test_all_waits_for_every_child_even_after_failures():
    ctx = context()
    executor = Fanout(3, max_concurrency=1, until="all")
    step = composite.begin(executor, ctx, now=0.0)
    step = done(executor, ctx, step, 0, "failed", error="x")
    assert step is not None and step.wait is not None
    assert statuses(step) == ["failed", "running", "pending"]
    step = done(executor, ctx, step, 1, output=1)
    assert step is not None and step.wait is not None
    step = done(executor, ctx, step, 2, output=2)
    assert step is not None and step.wait is None
    assert step.cancel == []
    assert step.output == {"states": ["failed", "completed", "completed"], "outputs": [None, 1, 2]}


def test_resume_may_spawn_again_with_new_ids():
    ctx = context()
    again = Spawn([ChildSpec("path:child.yaml", {}, "second")], {"round": 2})
    executor = Fanout(1, then=again)
    first = composite.begin(executor, ctx, now=0.0)
    second = done(executor, ctx, first, 0)
    assert second is not None and second.wait is not None
    assert second.wait.seq == 1
    assert second.wait.state == {"round": 2}
    assert [c.label for c in second.start] == ["second"]
    assert ids(second)[0] != ids(first)[0]
    assert ids(second)[0] == child_id("e1", "n", 1, 1, 0)


def test_a_failing_resume_fails_the_node():
    class Failing(Fanout):
        def resume(self, ctx, state, results):
            raise NodeError("resume broke", retryable=True)

    ctx = context()
    executor = Failing(1)
    step = done(executor, ctx, composite.begin(executor, ctx, now=0.0), 0)
    assert step is not None and step.wait is None
    assert step.failure == composite.NodeFailure("resume broke", True, False)


def test_a_failing_begin_fails_the_node():
    class Failing(Fanout):
        def begin(self, ctx):
            raise ValueError("bad config")

    step = composite.begin(Failing(1), context(), now=0.0)
    assert step.wait is None
    assert step.failure == composite.NodeFailure("ValueError: bad config", False, False)


def test_an_immediate_answer_is_the_output():
    class Immediate(Fanout):
        def begin(self, ctx):
            return {"done": True}

    step = composite.begin(Immediate(0), context(), now=0.0)
    assert step == CompositeStep(output={"done": True})


def test_an_empty_spawn_resumes_at_once():
    ctx = context()
    executor = Fanout(0)
    step = composite.begin(executor, ctx, now=0.0)
    assert step.wait is None
    assert step.failure is None
    assert step.start == [] and step.cancel == []
    assert step.output == {"states": [], "outputs": []}
    assert executor.resumed == [({"n": 0}, [])]


# -- deadlines --------------------------------------------------------------------------------


def test_spawn_timeout():
    ctx = context()
    executor = Fanout(3, max_concurrency=2, timeout=5.0)
    step = composite.begin(executor, ctx, now=100.0)
    assert step.wait is not None
    assert step.wait.deadline == 105.0
    assert step.wait.next_deadline() == 105.0
    step = done(executor, ctx, step, 0, output="a", now=101.0)  # child 2 starts
    assert step is not None and step.wait is not None
    wait = step.wait
    assert composite.expired(executor, ctx, wait, 104.9) is None
    assert executor.resumed == []
    running = ids(step)[1:]
    step = composite.expired(executor, ctx, wait, 105.0)
    assert step is not None and step.wait is None
    assert step.failure is None
    assert step.cancel == running
    assert step.output == {
        "states": ["completed", "timed_out", "timed_out"],
        "outputs": ["a", None, None],
    }
    [(_, results)] = executor.resumed
    assert [r.error for r in results] == [None, "timed out", "timed out"]


def test_spawn_timeout_leaves_pending_children_not_started():
    ctx = context()
    executor = Fanout(3, max_concurrency=1, timeout=1.0)
    step = composite.begin(executor, ctx, now=0.0)
    step = composite.expired(executor, ctx, step.wait, 2.0)
    assert step is not None
    assert step.output["states"] == ["timed_out", "not_started", "not_started"]
    assert len(step.cancel) == 1


def test_no_deadline_never_expires():
    ctx = context()
    executor = Fanout(1)
    step = composite.begin(executor, ctx, now=0.0)
    assert step.wait is not None and step.wait.next_deadline() is None
    assert composite.expired(executor, ctx, step.wait, 1e12) is None


def test_the_nodes_own_timeout_fails_the_attempt():
    ctx = context(timeout_config={"execution_timeout_ms": 100})
    executor = Fanout(3, max_concurrency=2, timeout=60.0)
    step = composite.begin(executor, ctx, now=10.0)
    assert step.wait is not None
    assert step.wait.node_deadline == pytest.approx(10.1)
    assert step.wait.next_deadline() == pytest.approx(10.1)
    wait = step.wait
    assert composite.expired(executor, ctx, wait, 10.05) is None
    step2 = composite.expired(executor, ctx, wait, 10.2)
    assert step2 is not None
    assert step2.wait is None
    assert step2.failure is not None
    assert step2.failure.timed_out is True
    assert step2.failure.retryable is True
    assert "timed out after 0.1 s" in step2.failure.message
    assert step2.cancel == ids(step)[:2]
    assert executor.resumed == []  # the attempt failed; resume is not asked


def test_the_nodes_own_deadline_is_kept_across_spawns():
    ctx = context(timeout_config={"execution_timeout_ms": 1000})
    again = Spawn([ChildSpec("path:child.yaml", {}, "second")])
    executor = Fanout(1, then=again)
    first = composite.begin(executor, ctx, now=0.0)
    second = done(executor, ctx, first, 0, now=0.5)
    assert second is not None and second.wait is not None
    assert second.wait.node_deadline == pytest.approx(1.0)


# -- depth ------------------------------------------------------------------------------------


def test_a_spawn_beyond_max_depth_fails():
    ctx = context(depth=3)
    executor = Fanout(2)
    step = composite.begin(executor, ctx, now=0.0, max_depth=3)
    assert step.wait is None
    assert step.start == []
    assert step.failure is not None
    assert "depth limit" in step.failure.message
    assert "at depth 4" in step.failure.message
    assert "the limit is 3" in step.failure.message


def test_a_spawn_at_max_depth_is_allowed():
    step = composite.begin(Fanout(1), context(depth=2), now=0.0, max_depth=3)
    assert step.failure is None
    assert step.wait is not None


def test_the_default_max_depth():
    ok = composite.begin(Fanout(1), context(depth=DEFAULT_MAX_DEPTH - 1), now=0.0)
    too_deep = composite.begin(Fanout(1), context(depth=DEFAULT_MAX_DEPTH), now=0.0)
    assert ok.failure is None
    assert too_deep.failure is not None and "depth limit" in too_deep.failure.message


# -- child ids --------------------------------------------------------------------------------


def test_child_ids_are_deterministic():
    assert child_id("e1", "n", 1, 0, 0) == child_id("e1", "n", 1, 0, 0)
    variants = {
        child_id("e1", "n", 1, 0, 0),
        child_id("e2", "n", 1, 0, 0),
        child_id("e1", "m", 1, 0, 0),
        child_id("e1", "n", 2, 0, 0),
        child_id("e1", "n", 1, 1, 0),
        child_id("e1", "n", 1, 0, 1),
    }
    assert len(variants) == 6


def test_spawned_children_get_the_same_ids_again():
    first = composite.begin(Fanout(3), context(), now=0.0)
    second = composite.begin(Fanout(3), context(), now=50.0)
    retry = composite.begin(Fanout(3), context(attempt=2), now=0.0)
    assert ids(first) == ids(second)
    assert ids(first) == [child_id("e1", "n", 1, 0, i) for i in range(3)]
    assert set(ids(first)).isdisjoint(ids(retry))
    assert len(set(ids(first))) == 3


# -- Loop -------------------------------------------------------------------------------------


def loop(lt: dict[str, Any], **config: Any) -> dict[str, Any]:
    return {"type": "Loop", "config": {"loop_type": lt, **config}}


def foreach(**fields: Any) -> dict[str, Any]:
    return {"variant": "ForEach", "collection_path": "items", "item_variable": "x", **fields}


def test_foreach_with_a_body_expression():
    lt = foreach(index_variable="i", body_expression='{"v": "{{x}}", "i": {{i}}}')
    ctx = context(loop(lt), {"items": ["a", "b", "c"]})
    assert LoopExecutor().begin(ctx) == {
        "loop_type": "foreach",
        "iterations": 3,
        "results": [{"v": "a", "i": 0}, {"v": "b", "i": 1}, {"v": "c", "i": 2}],
    }


def test_foreach_keeps_json_types():
    ctx = context(loop(foreach(body_expression="{{x}}")), {"items": [1, {"k": [2]}, None]})
    assert LoopExecutor().begin(ctx)["results"] == [1, {"k": [2]}, None]


def test_foreach_over_more_items_than_max_iterations_fails_before_anything():
    # the body would fail on its unknown name: the limit is checked first
    kind = loop(foreach(body_expression="{{missing}}"), max_iterations=2)
    ctx = context(kind, {"items": [1, 2, 3]})
    with pytest.raises(NodeError, match=r"would run 3 iterations, more than max_iterations \(2\)"):
        LoopExecutor().begin(ctx)


def test_foreach_over_more_items_than_max_iterations_spawns_nothing():
    lt = foreach(body={"nodes": [], "edges": []})
    ctx = context(loop(lt, max_iterations=1), {"items": [1, 2]})
    with pytest.raises(NodeError, match="max_iterations"):
        LoopExecutor().begin(ctx)
    step = composite.begin(LoopExecutor(), ctx, now=0.0)
    assert step.wait is None and step.start == []
    assert step.failure is not None and "max_iterations" in step.failure.message


def test_foreach_over_a_non_list_fails():
    ctx = context(loop(foreach(body_expression="{{x}}")), {"items": {"a": 1}})
    with pytest.raises(NodeError, match="collection_path 'items' is a object, not a list"):
        LoopExecutor().begin(ctx)


def test_foreach_with_a_body_spawns_one_child_per_item_in_turn():
    lt = foreach(index_variable="i", body="each.yaml")
    ctx = context(loop(lt), {"items": ["a", "b"], "other": 1})
    spawn = LoopExecutor().begin(ctx)
    assert isinstance(spawn, Spawn)
    assert spawn.max_concurrency == 1
    assert spawn.until == "all_ok"
    base = {"other": 1}  # the collection itself is not passed to each iteration
    assert spawn.children == [
        ChildSpec("path:each.yaml", {**base, "x": "a", "i": 0}, "iteration 0"),
        ChildSpec("path:each.yaml", {**base, "x": "b", "i": 1}, "iteration 1"),
    ]


def test_repeat_with_a_count_template():
    lt = {"variant": "Repeat", "count": "{{n}}", "index_variable": "i", "body_expression": "{{i}}"}
    assert LoopExecutor().begin(context(loop(lt), {"n": 3}))["results"] == [0, 1, 2]
    assert LoopExecutor().begin(context(loop(lt), {"n": " 2 "}))["results"] == [0, 1]


@pytest.mark.parametrize(
    ("n", "fragment"),
    [
        ("abc", "is not a whole number"),
        (2.5, "got 2.5"),
        (-1, "got -1"),
        (True, "got True"),
        ([3], "got [3]"),
    ],
)
def test_repeat_with_a_bad_count_fails(n, fragment):
    lt = {"variant": "Repeat", "count": "{{n}}", "body_expression": "1"}
    with pytest.raises(NodeError) as info:
        LoopExecutor().begin(context(loop(lt), {"n": n}))
    assert fragment in str(info.value)


def test_while_with_a_body_expression():
    lt = {
        "variant": "While",
        "condition": "iteration < 3",
        "counter_variable": "k",
        "body_expression": "{{k}}",
    }
    assert LoopExecutor().begin(context(loop(lt))) == {
        "loop_type": "while",
        "iterations": 3,
        "results": [0, 1, 2],
    }


def test_while_that_never_stops_hits_max_iterations():
    lt = {"variant": "While", "condition": "true", "body_expression": "1"}
    with pytest.raises(NodeError, match=r"reached max_iterations \(5\)"):
        LoopExecutor().begin(context(loop(lt, max_iterations=5)))


def test_loop_without_a_body_fails():
    with pytest.raises(NodeError, match="has no body_expression and no body"):
        LoopExecutor().begin(context(loop(foreach()), {"items": []}))


def test_loop_resume_reports_the_first_failed_iteration():
    ctx = context(loop(foreach(body="each.yaml")), {"items": [1, 2]})
    results = [
        ChildResult("iteration 0", "completed", 1),
        ChildResult("iteration 1", "failed", None, "boom"),
    ]
    with pytest.raises(NodeError, match="iteration 1 failed: boom"):
        LoopExecutor().resume(ctx, {"loop_type": "foreach"}, results)
    ok = [ChildResult("iteration 0", "completed", 1), ChildResult("iteration 1", "completed", 2)]
    assert LoopExecutor().resume(ctx, {"loop_type": "foreach"}, ok) == {
        "loop_type": "foreach",
        "iterations": 2,
        "results": [1, 2],
    }


# -- TryCatch ---------------------------------------------------------------------------------


def trycatch(**config: Any) -> dict[str, Any]:
    return {"type": "TryCatch", "config": config}


UNKNOWN = "unknown name 'missing'"


def test_try_success_skips_catch():
    kind = trycatch(try_expression="{{x}}", catch_expression="caught", finally_expression="bye")
    assert TryCatchExecutor().begin(context(kind, {"x": [1]})) == {
        "try_result": [1],
        "catch_result": None,
        "finally_result": "bye",
        "error_handled": False,
        "error": None,
    }


def test_try_error_goes_to_catch_with_the_error_variable():
    kind = trycatch(
        try_expression="{{missing}}",
        catch_expression="caught: {{problem}}",
        error_variable="problem",
    )
    out = TryCatchExecutor().begin(context(kind))
    assert out["error_handled"] is True
    assert out["error"].startswith(UNKNOWN)
    assert out["catch_result"] == f"caught: {out['error']}"
    assert out["try_result"] is None
    assert out["finally_result"] is None


def test_try_error_without_catch_fails():
    kind = trycatch(try_expression="{{missing}}", finally_expression="bye")
    with pytest.raises(NodeError, match=f"try/catch n: try failed: {UNKNOWN}"):
        TryCatchExecutor().begin(context(kind))


def test_rethrow_fails_after_catch():
    kind = trycatch(try_expression="{{missing}}", catch_expression="c", rethrow=True)
    with pytest.raises(NodeError, match=r"try failed \(rethrown after catch\)"):
        TryCatchExecutor().begin(context(kind))


def test_rethrow_without_an_error_succeeds():
    kind = trycatch(try_expression="{{x}}", catch_expression="c", rethrow=True)
    out = TryCatchExecutor().begin(context(kind, {"x": 1}))
    assert out["try_result"] == 1
    assert out["error_handled"] is False


def test_catch_failure_fails():
    kind = trycatch(try_expression="{{missing}}", catch_expression="{{also_missing}}")
    with pytest.raises(NodeError, match="catch also failed: unknown name 'also_missing'"):
        TryCatchExecutor().begin(context(kind))


def test_finally_failure_fails_even_after_success():
    kind = trycatch(try_expression="1", finally_expression="{{missing}}")
    with pytest.raises(NodeError, match=f"finally failed: {UNKNOWN}"):
        TryCatchExecutor().begin(context(kind))


def test_try_without_a_body_fails():
    with pytest.raises(NodeError, match="has no try_expression and no try_body"):
        TryCatchExecutor().begin(context(trycatch(catch_expression="c")))


def test_try_body_failure_runs_the_catch_body_with_the_error():
    kind = trycatch(try_body="try.yaml", catch_body="catch.yaml", finally_expression="bye")
    ctx = context(kind, {"a": 1})
    executor = TryCatchExecutor()
    spawn = executor.begin(ctx)
    assert spawn == Spawn([ChildSpec("path:try.yaml", {"a": 1}, "try")], {"phase": "try"})
    spawn = executor.resume(ctx, spawn.state, [ChildResult("try", "failed", None, "boom")])
    assert isinstance(spawn, Spawn)
    assert spawn.children == [ChildSpec("path:catch.yaml", {"a": 1, "error": "boom"}, "catch")]
    out = executor.resume(ctx, spawn.state, [ChildResult("catch", "completed", "fallback")])
    assert out == {
        "try_result": None,
        "catch_result": "fallback",
        "finally_result": "bye",
        "error_handled": True,
        "error": "boom",
    }


# -- Parallel ---------------------------------------------------------------------------------


def parallel(strategy: str, *tasks: tuple[str, str], **config: Any) -> dict[str, Any]:
    task_list = [{"id": tid, "expression": e} for tid, e in tasks]
    return {"type": "Parallel", "config": {"strategy": strategy, "tasks": task_list, **config}}


def test_race_reports_the_first_success():
    kind = parallel("Race", ("a", "{{missing}}"), ("b", "{{x}}"), ("c", "3"))
    assert ParallelExecutor().begin(context(kind, {"x": 5})) == {
        "strategy": "Race",
        "winner": "b",
        "results": {"b": {"status": "success", "value": 5}},
    }


def test_race_fails_when_every_task_failed():
    kind = parallel("Race", ("a", "{{missing}}"), ("b", "{{gone}}"))
    with pytest.raises(NodeError, match="no task succeeded") as info:
        ParallelExecutor().begin(context(kind))
    assert "a: unknown name 'missing'" in str(info.value)
    assert "b: unknown name 'gone'" in str(info.value)


def test_wait_all_succeeds_with_every_value():
    kind = parallel("WaitAll", ("a", "{{x}}"), ("b", "[1, {{x}}]"))
    assert ParallelExecutor().begin(context(kind, {"x": 2})) == {
        "strategy": "WaitAll",
        "results": {
            "a": {"status": "success", "value": 2},
            "b": {"status": "success", "value": [1, 2]},
        },
    }


def test_wait_all_fails_on_a_failed_task():
    kind = parallel("WaitAll", ("a", "1"), ("b", "{{missing}}"))
    with pytest.raises(NodeError, match=f"parallel n: task 'b' error: {UNKNOWN}"):
        ParallelExecutor().begin(context(kind))


def test_all_settled_reports_every_task():
    kind = parallel("AllSettled", ("a", "{{missing}}"), ("b", "ok"))
    out = ParallelExecutor().begin(context(kind))
    assert out["strategy"] == "AllSettled"
    assert list(out["results"]) == ["a", "b"]
    assert out["results"]["a"]["status"] == "error"
    assert out["results"]["a"]["error"].startswith(UNKNOWN)
    assert out["results"]["b"] == {"status": "success", "value": "ok"}


def test_parallel_bodies_spawn_with_the_strategys_until():
    kind = parallel("AllSettled", ("a", "{{x}}"), max_concurrency=2, timeout_ms=1500)
    kind["config"]["tasks"].append({"id": "b", "body": "b.yaml"})
    ctx = context(kind, {"x": 1})
    executor = ParallelExecutor()
    spawn = executor.begin(ctx)
    assert isinstance(spawn, Spawn)
    assert spawn.children == [ChildSpec("path:b.yaml", {"x": 1}, "b")]
    assert (spawn.until, spawn.max_concurrency, spawn.timeout) == ("all", 2, 1.5)
    out = executor.resume(ctx, spawn.state, [ChildResult("b", "timed_out", None, "timed out")])
    assert out["results"] == {
        "a": {"status": "success", "value": 1},
        "b": {"status": "timeout", "error": "timed out after 1500 ms"},
    }


@pytest.mark.parametrize(("strategy", "until"), [("WaitAll", "all_ok"), ("Race", "first_ok")])
def test_parallel_until_per_strategy(strategy, until):
    kind = parallel(strategy)
    kind["config"]["tasks"].append({"id": "b", "body": "b.yaml"})
    spawn = ParallelExecutor().begin(context(kind))
    assert isinstance(spawn, Spawn) and spawn.until == until


def test_a_decided_race_spawns_nothing():
    kind = parallel("Race", ("a", "1"))
    kind["config"]["tasks"].append({"id": "b", "body": "b.yaml"})
    assert ParallelExecutor().begin(context(kind))["winner"] == "a"


# -- SubWorkflow ------------------------------------------------------------------------------


def test_subworkflow_maps_inputs_and_picks_the_output_variable():
    kind = {
        "type": "SubWorkflow",
        "config": {
            "workflow_path": "child.yaml",
            "input_mappings": {"text": "{{t}}", "n": "{{n}}"},
            "output_variable": "summary",
        },
    }
    ctx = context(kind, {"t": "hello", "n": 3, "unmapped": True})
    executor = SubWorkflowExecutor()
    spawn = executor.begin(ctx)
    assert spawn == Spawn([ChildSpec("path:child.yaml", {"text": "hello", "n": 3}, "sub-workflow")])
    result = ChildResult("sub-workflow", "completed", {"summary": "hi", "x": 1}, None, "c1")
    assert executor.resume(ctx, None, [result]) == {
        "execution_id": "c1",
        "state": "completed",
        "output": "hi",
    }


def test_subworkflow_inherits_context():
    kind = {
        "type": "SubWorkflow",
        "config": {
            "workflow_path": "c.yaml",
            "inherit_context": True,
            "input_mappings": {"b": "2", "a": "{{a}}x"},
        },
    }
    spawn = SubWorkflowExecutor().begin(context(kind, {"a": 1, "c": 3}))
    assert spawn.children[0].inputs == {"a": "1x", "b": "2", "c": 3}


def test_subworkflow_child_failure_fails_the_node():
    ctx = context({"type": "SubWorkflow", "config": {"workflow_path": "c.yaml"}})
    result = ChildResult("sub-workflow", "failed", None, "child broke", "c1")
    with pytest.raises(NodeError, match="sub-workflow n failed: child broke"):
        SubWorkflowExecutor().resume(ctx, None, [result])


def test_subworkflow_without_a_workflow_fails():
    ctx = context({"type": "SubWorkflow", "config": {}})
    with pytest.raises(NodeError, match="has no workflow_path and no workflow"):
        SubWorkflowExecutor().begin(ctx)


def test_the_runner_can_cap_the_children_running_at_once():
    executor = Fanout(5)
    step = composite.begin(executor, context(), now=0.0, max_running=2)
    assert step.wait is not None
    assert len(step.start) == 2
    assert step.wait.max_concurrency == 2
