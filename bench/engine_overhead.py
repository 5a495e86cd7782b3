"""Engine overhead per node in embedded mode, on 1,000-node DAGs of no-op Custom nodes.

Shapes: wide (Start → 1,000 parallel nodes → End), deep (a chain of 1,000), random (each node
depends on 1–3 earlier ones). For each shape and scheduling mode it prints nodes/second and
compares against two baselines measured in the same run:

- direct: the no-op executor called 1,000 times in a plain loop (the floor);
- pool: a hand-written level-by-level scheduler on ``concurrent.futures.ThreadPoolExecutor``
  with the same number of threads (the cheapest threaded scheduler of the same shape).

Also measured: the same DAGs with the no-op registered ``inline`` (no thread hand-off), which
isolates the cost of the state machine, events and bookkeeping.

Usage: python3 bench/engine_overhead.py [--nodes 1000] [--repeat 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from oxify import Engine, NodeRegistry, Workflow, parse_workflow
from oxify.engine.options import DEFAULT_MAX_CONCURRENT_NODES
from oxify.engine.plan import build_plan
from oxify.nodes.base import NodeContext


def noop(ctx: NodeContext) -> None:
    return None


def _custom(node_id: str) -> dict[str, Any]:
    kind = {"type": "Custom", "config": {"plugin_id": "bench.noop", "plugin_version": "1"}}
    return {"id": node_id, "name": node_id, "kind": kind}


def make(shape: str, n: int, rng: random.Random) -> Workflow:
    nodes = [{"id": "start", "kind": {"type": "Start"}}]
    nodes += [_custom(f"n{i}") for i in range(n)]
    nodes.append({"id": "end", "kind": {"type": "End", "config": {"outputs": {}}}})
    edges: list[tuple[str, str]] = []
    if shape == "wide":
        edges += [("start", f"n{i}") for i in range(n)] + [(f"n{i}", "end") for i in range(n)]
    elif shape == "deep":
        edges += [("start", "n0")] + [(f"n{i}", f"n{i + 1}") for i in range(n - 1)]
        edges.append((f"n{n - 1}", "end"))
    else:
        has_succ: set[int] = set()
        for i in range(n):
            if i == 0 or rng.random() < 0.05:
                edges.append(("start", f"n{i}"))
                continue
            for p in rng.sample(range(max(0, i - 50), i), min(i, rng.randint(1, 3))):
                edges.append((f"n{p}", f"n{i}"))
                has_succ.add(p)
        edges += [(f"n{i}", "end") for i in range(n) if i not in has_succ]
    return parse_workflow(
        {
            "metadata": {"name": f"bench-{shape}"},
            "nodes": nodes,
            "edges": [{"from": a, "to": b} for a, b in edges],
        }
    )


def row(shape: str, mode: str, executor: str, total: int, seconds: float, ratio: str = "") -> str:
    rate = total / seconds
    return (
        f"{shape:<7} {mode:<9} {executor:<9} {rate:>9.0f} {seconds / total * 1e6:>8.1f} {ratio:>8}"
    )


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def direct_baseline(wf: Workflow) -> None:
    for _node in wf.nodes:
        noop(None)  # type: ignore[arg-type]


def pool_baseline(wf: Workflow, pool: ThreadPoolExecutor) -> None:
    plan = build_plan(wf)
    for level in plan.levels:
        wait([pool.submit(noop, None) for _ in level])  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    threaded = NodeRegistry.default(load_entry_points=False)
    threaded.register_custom("bench.noop", noop)
    inline = NodeRegistry.default(load_entry_points=False)
    inline.register_custom("bench.noop", noop, inline=True)
    engines = {"threaded": Engine(registry=threaded), "inline": Engine(registry=inline)}
    rng = random.Random(args.seed)
    pool = ThreadPoolExecutor(DEFAULT_MAX_CONCURRENT_NODES)

    header = (
        f"{'shape':<7} {'mode':<9} {'executor':<9} {'nodes/s':>9} {'µs/node':>8} {'vs pool':>8}"
    )
    print(f"oxify embedded engine overhead: {args.nodes} no-op nodes + Start/End,", end=" ")
    print(f"best of {args.repeat}")
    print(header)
    print("-" * len(header))
    summary: list[float] = []
    for shape in ("wide", "deep", "random"):
        wf = make(shape, args.nodes, rng)
        total = len(wf.nodes)
        engines["threaded"].plan(wf)  # validate + plan once (cached), as repeated runs would
        engines["inline"].plan(wf)
        t_direct = best(lambda wf=wf: direct_baseline(wf), args.repeat)
        t_pool = best(lambda wf=wf: pool_baseline(wf, pool), args.repeat)
        print(row(shape, "-", "direct", total, t_direct))
        print(row(shape, "levels", "pool", total, t_pool, "1.00x"))
        for mode in ("levels", "dataflow"):
            for name, engine in engines.items():

                def run(engine: Engine = engine, wf: Workflow = wf, mode: str = mode) -> None:
                    result = engine.run(wf, mode=mode)
                    assert result.ok, result.error

                t = best(run, args.repeat)
                ratio = t / t_pool
                if name == "threaded":
                    summary.append(ratio)
                print(row(shape, mode, name, total, t, f"{ratio:.2f}x"))
    pool.shutdown()
    print()
    mean = statistics.geometric_mean(summary)
    print(f"geometric mean, threaded engine vs hand-written thread-pool scheduler: {mean:.2f}x")


if __name__ == "__main__":
    main()
