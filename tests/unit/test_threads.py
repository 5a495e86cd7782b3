"""The embedded dispatcher's threads: attempts wait for a busy thread unless the busy ones
are blocked in executors, so blocking executors still run side by side and never hold up
the others."""

from __future__ import annotations

import threading
import time

from oxify import Engine, NodeRegistry
from oxify.engine.state import ExecutionState
from oxify.nodes.base import NodeContext
from tests.support import END, START, build, custom


def test_blocking_executors_run_side_by_side():
    """Eight executors that each wait for all eight: they complete only if they all run at
    once."""
    barrier = threading.Barrier(8, timeout=10)

    def meet(ctx: NodeContext) -> int:
        return barrier.wait()

    registry = NodeRegistry.default(load_entry_points=False)
    registry.register_custom("t.meet", meet)
    nodes = {"start": START, **{f"n{i}": custom("t.meet") for i in range(8)}, "end": END}
    edges = [("start", f"n{i}") for i in range(8)] + [(f"n{i}", "end") for i in range(8)]
    result = Engine(registry=registry).run(build(nodes, edges), max_concurrent_nodes=8)
    assert result.state is ExecutionState.COMPLETED, result.error
    assert sorted(result.node(f"n{i}").output for i in range(8)) == list(range(8))


def test_a_blocked_executor_does_not_hold_up_the_others():
    """The first node of a level blocks until the test releases it; the twenty cheap nodes
    sent after it finish meanwhile."""
    release = threading.Event()
    done: list[str] = []

    def slow(ctx: NodeContext) -> str:
        assert release.wait(10), "never released"
        return "slow"

    def quick(ctx: NodeContext) -> str:
        done.append(ctx.node.id)
        return "quick"

    registry = NodeRegistry.default(load_entry_points=False)
    registry.register_custom("t.slow", slow)
    registry.register_custom("t.quick", quick)
    quick_ids = [f"q{i}" for i in range(20)]
    nodes = {"start": START, "slow": custom("t.slow"), **{q: custom("t.quick") for q in quick_ids}}
    nodes["end"] = END
    edges = [("start", n) for n in ["slow", *quick_ids]] + [
        (n, "end") for n in ["slow", *quick_ids]
    ]
    engine = Engine(registry=registry)
    execution = engine.start(build(nodes, edges), max_concurrent_nodes=32)
    deadline = time.monotonic() + 10
    while len(done) < len(quick_ids) and time.monotonic() < deadline:
        time.sleep(0.01)
    finished_first = sorted(done)
    release.set()
    result = execution.wait(timeout=10)
    assert finished_first == sorted(quick_ids)
    assert result.state is ExecutionState.COMPLETED, result.error
    assert result.node("slow").output == "slow"


def test_a_deferred_drive_does_not_wait_for_a_blocked_executor():
    """``quick`` finishes while ``slow`` (sent after it, so run next on the same thread)
    blocks until ``after``, the successor of ``quick``, runs: the drive that sends
    ``after`` must not wait behind ``slow``."""
    release = threading.Event()

    def slow(ctx: NodeContext) -> str:
        assert release.wait(10), "the successor of quick never ran"
        return "slow"

    def after(ctx: NodeContext) -> str:
        release.set()
        return "after"

    registry = NodeRegistry.default(load_entry_points=False)
    registry.register_custom("t.slow", slow)
    registry.register_custom("t.quick", lambda ctx: "quick")
    registry.register_custom("t.after", after)
    nodes = {
        "start": START,
        "quick": custom("t.quick"),
        "slow": custom("t.slow"),
        "after": custom("t.after"),
        "end": END,
    }
    wf = build(nodes, "start>quick, start>slow, quick>after, after>end, slow>end")
    for _ in range(5):
        release.clear()
        result = Engine(registry=registry).run(wf, mode="dataflow", max_concurrent_nodes=4)
        assert result.state is ExecutionState.COMPLETED, result.error
        assert result.node("slow").output == "slow"


def test_children_with_blocking_bodies_run_side_by_side():
    """A parallel ForEach over four items whose body waits for all four bodies: the
    children, started by one step, must not be driven one after another."""
    barrier = threading.Barrier(4, timeout=10)
    registry = NodeRegistry.default(load_entry_points=False)
    registry.register_custom("t.meet", lambda ctx: barrier.wait())
    body = {
        "metadata": {"name": "body"},
        "nodes": [
            {"id": "s", "kind": START},
            {"id": "w", "kind": custom("t.meet")},
            {"id": "e", "kind": {"type": "End", "config": {"outputs": {"i": "{{item}}"}}}},
        ],
        "edges": [{"from": "s", "to": "w"}, {"from": "w", "to": "e"}],
    }
    loop = {
        "type": "Loop",
        "config": {
            "max_iterations": 4,
            "loop_type": {
                "variant": "ForEach",
                "collection_path": "items",
                "item_variable": "item",
                "parallel": True,
                "body": body,
            },
        },
    }
    wf = build({"start": START, "loop": loop, "end": END}, "start>loop, loop>end")
    result = Engine(registry=registry).run(wf, {"items": [1, 2, 3, 4]})
    assert result.state is ExecutionState.COMPLETED, result.error
    assert [r["i"] for r in result.node("loop").output["results"]] == [1, 2, 3, 4]
