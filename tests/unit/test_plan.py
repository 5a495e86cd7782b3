"""Planning: Kahn levels, deterministic order, cycle detection, the LRU plan cache."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oxify
from oxify.engine.plan import Plan, PlanCache, build_plan, find_cycle
from oxify.errors import CycleError
from oxify.model import Workflow, parse_workflow
from tests.support import END, START, build, value


def noop_workflow(ids: list[str], edges: list[tuple[str, str]]) -> Workflow:
    """Custom no-op nodes (no Start/End: plans do not need them)."""
    return parse_workflow(
        {
            "nodes": [
                {"id": i, "kind": {"type": "Custom", "config": {"plugin_id": "oxify.noop"}}}
                for i in ids
            ],
            "edges": [{"from": a, "to": b} for a, b in edges],
        }
    )


def chain_workflow(length: int) -> Workflow:
    ids = [f"n{i}" for i in range(length)]
    return noop_workflow(ids, list(itertools.pairwise(ids)))


def assert_topological(plan: Plan, edges: list[tuple[str, str]]) -> None:
    position = {node: i for i, node in enumerate(plan.order)}
    for a, b in edges:
        assert position[a] < position[b], (a, b)
        assert plan.level_of[a] < plan.level_of[b], (a, b)


def assert_real_cycle(cycle: list[str], edges: set[tuple[str, str]]) -> None:
    assert len(cycle) >= 2
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1, f"not a simple cycle: {cycle}"
    for a, b in itertools.pairwise(cycle):
        assert (a, b) in edges, f"{a} -> {b} is not an edge of {cycle}"


# -- levels -----------------------------------------------------------------------------------
class TestLevels:
    def test_diamond(self) -> None:
        wf = build(
            {"start": START, "left": value(1), "right": value(2), "join": value(3), "end": END},
            "start>left, start>right, left>join, right>join, join>end",
        )
        plan = build_plan(wf)
        assert plan.levels == (("start",), ("left", "right"), ("join",), ("end",))
        assert plan.order == ("start", "left", "right", "join", "end")
        assert plan.preds["join"] == ("left", "right")
        assert plan.succs["start"] == ("left", "right")
        assert plan.level_of == {"start": 0, "left": 1, "right": 1, "join": 2, "end": 3}
        assert plan.node_count == 5

    def test_chain(self) -> None:
        plan = build_plan(chain_workflow(6))
        assert plan.levels == tuple((f"n{i}",) for i in range(6))
        assert plan.preds["n0"] == ()
        assert plan.succs["n5"] == ()

    def test_wide_dag(self) -> None:
        middle = [f"w{i:03d}" for i in range(200)]
        edges = [("root", m) for m in middle] + [(m, "sink") for m in middle]
        plan = build_plan(noop_workflow(["root", *middle, "sink"], edges))
        assert plan.levels == (("root",), tuple(middle), ("sink",))
        assert plan.preds["sink"] == tuple(middle)

    def test_level_is_the_longest_path_from_a_root(self) -> None:
        edges = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("x", "d")]
        plan = build_plan(noop_workflow(["a", "b", "c", "d", "x"], edges))
        assert plan.levels == (("a", "x"), ("b",), ("c",), ("d",))
        assert_topological(plan, edges)

    def test_in_level_order_is_file_order_not_edge_order(self) -> None:
        ids = ["zeta", "root", "mid", "alpha", "omega", "beta"]
        edges = [
            ("root", "beta"),
            ("root", "alpha"),
            ("root", "zeta"),
            ("root", "omega"),
            ("zeta", "mid"),
            ("beta", "mid"),
        ]
        plan = build_plan(noop_workflow(ids, edges))
        assert plan.levels == (("root",), ("zeta", "alpha", "omega", "beta"), ("mid",))
        assert plan.succs["root"] == ("zeta", "alpha", "omega", "beta")
        assert plan.preds["mid"] == ("zeta", "beta")

    def test_deterministic(self) -> None:
        rng = random.Random(7)
        ids = [f"n{i}" for i in range(60)]
        edges = [
            (ids[i], ids[j]) for i in range(60) for j in range(i + 1, 60) if rng.random() < 0.1
        ]
        rng.shuffle(ids)
        first = build_plan(noop_workflow(ids, edges))
        for _ in range(3):
            assert build_plan(noop_workflow(ids, list(reversed(edges)))).levels == first.levels
        for level in first.levels:
            assert list(level) == sorted(level, key=ids.index)
        assert_topological(first, edges)

    def test_duplicate_edges_are_ignored(self) -> None:
        edges = [("a", "b"), ("a", "b"), ("b", "c"), ("a", "b"), ("b", "c")]
        plan = build_plan(noop_workflow(["a", "b", "c"], edges))
        assert plan.levels == (("a",), ("b",), ("c",))
        assert plan.preds["b"] == ("a",)
        assert plan.succs["a"] == ("b",)
        assert plan.preds["c"] == ("b",)

    def test_edges_to_unknown_nodes_are_ignored(self) -> None:
        plan = build_plan(noop_workflow(["a", "b"], [("a", "b"), ("a", "ghost"), ("ghost", "b")]))
        assert plan.levels == (("a",), ("b",))
        assert plan.preds["b"] == ("a",)

    def test_isolated_nodes_are_roots(self) -> None:
        plan = build_plan(noop_workflow(["a", "lonely", "b"], [("a", "b")]))
        assert plan.levels == (("a", "lonely"), ("b",))

    def test_examples(self) -> None:
        plan = build_plan(oxify.load_workflow("examples/switch.yaml"))
        assert plan.levels == (
            ("start",),
            ("route",),
            ("english", "french", "iberian", "other"),
            ("end",),
        )


# -- ancestors --------------------------------------------------------------------------------
class TestAncestors:
    def test_diamond(self) -> None:
        plan = build_plan(oxify.load_workflow("examples/diamond.json"))
        assert plan.ancestors("start") == frozenset()
        assert plan.ancestors("double") == {"start"}
        assert plan.ancestors("sum") == {"start", "double", "square"}
        assert plan.ancestors("end") == {"start", "double", "square", "sum"}

    def test_memoized(self) -> None:
        plan = build_plan(chain_workflow(5))
        first = plan.ancestors("n4")
        assert first == {"n0", "n1", "n2", "n3"}
        assert plan.ancestors("n4") is first

    def test_siblings_are_not_ancestors(self) -> None:
        plan = build_plan(noop_workflow(["a", "b", "c"], [("a", "b"), ("a", "c")]))
        assert plan.ancestors("c") == {"a"}

    def test_unknown_node(self) -> None:
        with pytest.raises(KeyError):
            build_plan(chain_workflow(2)).ancestors("nope")


# -- cycles -----------------------------------------------------------------------------------
class TestFindCycle:
    def test_none_for_a_dag(self) -> None:
        assert find_cycle(["a", "b", "c"], [("a", "b"), ("b", "c"), ("a", "c")]) is None

    def test_empty_graph(self) -> None:
        assert find_cycle([], []) is None

    def test_self_loop(self) -> None:
        assert find_cycle(["a", "b"], [("a", "b"), ("b", "b")]) == ["b", "b"]

    def test_two_cycle(self) -> None:
        cycle = find_cycle(["a", "b"], [("a", "b"), ("b", "a")])
        assert cycle is not None
        assert_real_cycle(cycle, {("a", "b"), ("b", "a")})

    def test_cycle_downstream_of_other_nodes(self) -> None:
        edges = {("s", "a"), ("a", "b"), ("b", "c"), ("c", "d"), ("d", "b"), ("d", "e")}
        cycle = find_cycle(["s", "a", "b", "c", "d", "e"], edges)
        assert cycle is not None
        assert_real_cycle(cycle, edges)
        assert set(cycle) == {"b", "c", "d"}

    def test_edges_outside_the_node_list_are_ignored(self) -> None:
        assert find_cycle(["a", "b"], [("a", "b"), ("b", "x"), ("x", "a")]) is None

    @settings(max_examples=150, deadline=None)
    @given(
        size=st.integers(min_value=1, max_value=40),
        density=st.floats(min_value=0.0, max_value=0.5),
        seed=st.integers(min_value=0, max_value=2**32 - 1),
    )
    def test_random_dags_have_no_cycle(self, size: int, density: float, seed: int) -> None:
        rng = random.Random(seed)
        ids = [f"n{i}" for i in range(size)]
        edges = [(ids[i], ids[j]) for i in range(size) for j in range(i + 1, size)]
        edges = [e for e in edges if rng.random() < density]
        shuffled = ids[:]
        rng.shuffle(shuffled)
        assert find_cycle(shuffled, edges) is None
        plan = build_plan(noop_workflow(shuffled, edges))
        assert sorted(plan.order) == sorted(ids)
        assert_topological(plan, edges)

    @settings(max_examples=150, deadline=None)
    @given(
        size=st.integers(min_value=1, max_value=40),
        cycle_length=st.integers(min_value=1, max_value=8),
        density=st.floats(min_value=0.0, max_value=0.5),
        seed=st.integers(min_value=0, max_value=2**32 - 1),
    )
    def test_planted_cycles_are_found(
        self, size: int, cycle_length: int, density: float, seed: int
    ) -> None:
        rng = random.Random(seed)
        ids = [f"n{i}" for i in range(size)]
        edges = {(ids[i], ids[j]) for i in range(size) for j in range(i + 1, size)}
        edges = {e for e in edges if rng.random() < density}
        planted = rng.sample(ids, min(cycle_length, size))
        edges |= set(zip(planted, [*planted[1:], planted[0]], strict=True))
        shuffled = ids[:]
        rng.shuffle(shuffled)
        ordered_edges = sorted(edges)
        rng.shuffle(ordered_edges)

        cycle = find_cycle(shuffled, ordered_edges)
        assert cycle is not None
        assert_real_cycle(cycle, edges)

        with pytest.raises(CycleError) as info:
            build_plan(noop_workflow(shuffled, ordered_edges))
        assert_real_cycle(info.value.cycle, edges)


class TestBuildPlanCycles:
    def test_cycle_error_names_the_nodes(self) -> None:
        wf = parse_workflow(
            {
                "nodes": [
                    {"id": "s", "kind": START},
                    {"id": "id-a", "name": "Alpha", "kind": value(1)},
                    {"id": "id-b", "name": "Beta", "kind": value(2)},
                    {"id": "e", "kind": END},
                ],
                "edges": [
                    {"from": "s", "to": "id-a"},
                    {"from": "id-a", "to": "id-b"},
                    {"from": "id-b", "to": "id-a"},
                    {"from": "id-b", "to": "e"},
                ],
            }
        )
        with pytest.raises(CycleError) as info:
            build_plan(wf)
        error = info.value
        assert_real_cycle(error.cycle, {("id-a", "id-b"), ("id-b", "id-a")})
        message = str(error)
        assert message.startswith("cycle detected: ")
        assert "'Alpha' (id-a)" in message and "'Beta' (id-b)" in message
        assert message.count(" -> ") == 2
        assert isinstance(error, oxify.WorkflowError)

    def test_self_loop(self) -> None:
        with pytest.raises(CycleError) as info:
            build_plan(noop_workflow(["a"], [("a", "a")]))
        assert info.value.cycle == ["a", "a"]


# -- big graphs -------------------------------------------------------------------------------
class TestLargeGraphs:
    def test_thousand_node_chain(self) -> None:
        wf = chain_workflow(1000)
        plan = build_plan(wf)
        assert len(plan.levels) == 1000
        assert plan.order[0] == "n0" and plan.order[-1] == "n999"
        assert len(plan.ancestors("n999")) == 999

    def test_thousand_node_chain_with_a_back_edge(self) -> None:
        ids = [f"n{i}" for i in range(1000)]
        edges = [*itertools.pairwise(ids), ("n999", "n0")]
        cycle = find_cycle(ids, edges)
        assert cycle is not None
        assert len(cycle) == 1001
        assert_real_cycle(cycle, set(edges))

    def test_thousand_node_workflow_validates(self) -> None:
        ids = ["start", *(f"n{i}" for i in range(998)), "end"]
        nodes = {i: value(1) for i in ids}
        nodes["start"], nodes["end"] = START, END
        wf = build(nodes, list(itertools.pairwise(ids)))
        report = oxify.validate(wf)
        assert report.ok and report.issues == []


# -- the plan cache ---------------------------------------------------------------------------
class TestPlanCache:
    def test_lru_eviction(self) -> None:
        a, b, c = chain_workflow(2), chain_workflow(3), chain_workflow(4)
        cache = PlanCache(capacity=2)
        plan_a = cache.get(a)
        cache.get(b)
        assert cache.get(a) is plan_a  # a is now the most recently used
        cache.get(c)
        assert a in cache
        assert c in cache
        assert b not in cache
        assert len(cache) == 2
        assert (cache.hits, cache.misses) == (1, 3)

    def test_keyed_by_definition_not_object(self) -> None:
        cache = PlanCache()
        first = cache.get(oxify.load_workflow("examples/diamond.json"))
        again = oxify.load_workflow("examples/diamond.json")
        assert again in cache
        assert cache.get(again) is first
        assert (cache.hits, cache.misses) == (1, 1)
        assert cache.capacity == 100

    def test_miss_after_eviction_recomputes(self) -> None:
        cache = PlanCache(capacity=1)
        a, b = chain_workflow(2), chain_workflow(3)
        cache.get(a)
        cache.get(b)
        assert a not in cache
        assert cache.get(a).levels == (("n0",), ("n1",))
        assert (cache.hits, cache.misses) == (0, 3)

    def test_clear_and_non_workflows(self) -> None:
        cache = PlanCache(capacity=3)
        wf = chain_workflow(2)
        cache.get(wf)
        assert "not a workflow" not in cache
        cache.clear()
        assert wf not in cache
        assert len(cache) == 0

    def test_cycle_is_not_cached(self) -> None:
        cache = PlanCache()
        wf = noop_workflow(["a", "b"], [("a", "b"), ("b", "a")])
        with pytest.raises(CycleError):
            cache.get(wf)
        assert wf not in cache
        assert cache.misses == 1

    def test_capacity_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            PlanCache(capacity=0)
