"""oxify on Celery + Redis against the cheapest hand-written Celery canvas of the same shape.

Starts its own processes on a dedicated Redis database (default db 11, which must be empty;
it is emptied at the end): an oxify orchestrator and a control-pool worker, and a plain
Celery worker for the baseline, each with the same thread pool size. Then, for each DAG
shape, it times (median of --repeat runs, submit to result):

- raw:      Celery canvas: ``chain(group(noop × width) × depth)``; for the skewed DAG,
            ``group(chain(branch A), chain(branch B))``;
- levels:   oxify, one chord per DAG level (the default mode);
- dataflow: oxify, each node dispatched as soon as its own dependencies are done.

Shapes (width × depth, every node of a level depends on every node of the level before):
1×20, 10×20, 100×5; and a skewed DAG of two 5-node branches whose slow node (--slow
seconds) sits first in one branch and last in the other, so that levels mode waits for
the slow node twice and dataflow mode only once.

Usage: python3 bench/distributed_vs_celery.py [--repeat 3] [--slow 1.0] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPES = [(1, 20), (10, 20), (100, 5)]


def layered(width: int, depth: int) -> Any:
    from oxify import parse_workflow

    nodes: list[dict[str, Any]] = [{"id": "start", "kind": {"type": "Start"}}]
    edges: list[tuple[str, str]] = []
    previous = ["start"]
    for level in range(depth):
        current = [f"n{level}_{i}" for i in range(width)]
        for node_id in current:
            kind = {"type": "Custom", "config": {"plugin_id": "oxify.noop", "plugin_version": "1"}}
            nodes.append({"id": node_id, "kind": kind})
            edges += [(p, node_id) for p in previous]
        previous = current
    nodes.append({"id": "end", "kind": {"type": "End", "config": {"outputs": {}}}})
    edges += [(p, "end") for p in previous]
    return parse_workflow(
        {
            "metadata": {"name": f"layered-{width}x{depth}"},
            "nodes": nodes,
            "edges": [{"from": a, "to": b} for a, b in edges],
        }
    )


def skewed(slow: float) -> Any:
    from oxify import parse_workflow

    def sleeper(node_id: str, seconds: float) -> dict[str, Any]:
        config = {"plugin_id": "oxify.sleep", "plugin_version": "1", "config": {"seconds": seconds}}
        return {"id": node_id, "kind": {"type": "Custom", "config": config}}

    a = [sleeper(f"a{i}", slow if i == 0 else 0.0) for i in range(5)]
    b = [sleeper(f"b{i}", slow if i == 4 else 0.0) for i in range(5)]
    nodes = [
        {"id": "start", "kind": {"type": "Start"}},
        *a,
        *b,
        {"id": "end", "kind": {"type": "End", "config": {"outputs": {}}}},
    ]
    edges = [("start", "a0"), ("start", "b0"), ("a4", "end"), ("b4", "end")]
    edges += [(f"a{i}", f"a{i + 1}") for i in range(4)] + [(f"b{i}", f"b{i + 1}") for i in range(4)]
    return parse_workflow(
        {
            "metadata": {"name": "skewed"},
            "nodes": nodes,
            "edges": [{"from": x, "to": y} for x, y in edges],
        }
    )


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def median_time(fn: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--slow", type=float, default=1.0, help="seconds of the skewed DAG's slow node"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    parser.add_argument(
        "--redis-url", default=os.environ.get("OXIFY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    )
    args = parser.parse_args()

    db = redis.Redis.from_url(args.redis_url)
    if db.dbsize():
        sys.exit(f"refusing to run: {args.redis_url} is not empty")
    env = dict(os.environ, OXIFY_REDIS_URL=args.redis_url, PYTHONPATH=str(ROOT))
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    procs = [
        spawn(
            [
                sys.executable,
                "-m",
                "oxify.cli",
                "orchestrator",
                "--concurrency",
                "4",
                "--loglevel",
                "warning",
            ],
            env,
            logs / "bench-orchestrator.log",
        ),
        spawn(
            [
                sys.executable,
                "-m",
                "oxify.cli",
                "worker",
                "--pool",
                "control",
                "--concurrency",
                str(args.concurrency),
                "--loglevel",
                "warning",
            ],
            env,
            logs / "bench-control.log",
        ),
        spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench.raw_celery",
                "worker",
                "-Q",
                "bench.raw",
                "-P",
                "threads",
                "-c",
                str(args.concurrency),
                "-n",
                "raw@%h",
                "--loglevel",
                "warning",
            ],
            env,
            logs / "bench-raw.log",
        ),
    ]
    try:
        os.environ["OXIFY_REDIS_URL"] = args.redis_url
        from celery import chain, group

        from bench.raw_celery import app as raw_app
        from bench.raw_celery import noop, sleep
        from oxify.client import Client

        deadline = time.monotonic() + 60
        while len(raw_app.control.ping(timeout=0.5) or []) < 3:
            if time.monotonic() > deadline:
                sys.exit("workers did not start; see bench-*.log in " + str(logs))
        client = Client(args.redis_url)

        def run_oxify(workflow: Any, mode: str) -> None:
            result = client.wait(client.submit(workflow, mode=mode), timeout=600)
            assert result.ok, result.error

        print(
            f"oxify distributed vs raw Celery canvas: Redis {args.redis_url}, {args.concurrency} threads per worker, median of {args.repeat}"
        )
        header = f"{'shape':<9} {'nodes':>6} {'raw s':>8} {'levels s':>9} {'dataflow s':>11} {'levels/raw':>11} {'dataflow/raw':>13}"
        print(header)
        print("-" * len(header))
        ratios = []
        for width, depth in SHAPES:
            wf = layered(width, depth)

            def raw(width: int = width, depth: int = depth) -> None:
                # a fresh canvas each time: a reused one keeps its task ids (and results)
                canvas = chain(*[group(noop.si() for _ in range(width)) for _ in range(depth)])
                canvas.apply_async().get(timeout=600)

            run_oxify(wf, "levels")  # warm up (workflow cache, connections)
            raw()
            t_raw = median_time(raw, args.repeat)
            t_lv = median_time(lambda w=wf: run_oxify(w, "levels"), args.repeat)
            t_df = median_time(lambda w=wf: run_oxify(w, "dataflow"), args.repeat)
            ratios.append(t_lv / t_raw)
            print(
                f"{width}x{depth:<7} {width * depth:>6} {t_raw:>8.3f} {t_lv:>9.3f} {t_df:>11.3f} {t_lv / t_raw:>10.2f}x {t_df / t_raw:>12.2f}x"
            )
        wf = skewed(args.slow)

        def raw_skewed() -> None:
            branch_a = chain(sleep.si(args.slow), *[sleep.si(0.0) for _ in range(4)])
            branch_b = chain(*[sleep.si(0.0) for _ in range(4)], sleep.si(args.slow))
            group(branch_a, branch_b).apply_async().get(timeout=600)

        t_raw = median_time(raw_skewed, args.repeat)
        t_lv = median_time(lambda: run_oxify(wf, "levels"), args.repeat)
        t_df = median_time(lambda: run_oxify(wf, "dataflow"), args.repeat)
        print(
            f"{'skewed':<9} {10:>6} {t_raw:>8.3f} {t_lv:>9.3f} {t_df:>11.3f} {t_lv / t_raw:>10.2f}x {t_df / t_raw:>12.2f}x"
        )
        print()
        print(
            f"levels mode vs raw Celery (layered shapes): geometric mean {statistics.geometric_mean(ratios):.2f}x (target <= 1.5x)"
        )
        print(
            f"skewed DAG, dataflow mode: {t_df:.3f} s for a slow branch of {args.slow:.3f} s ({t_df / args.slow:.2f}x); levels mode: {t_lv:.3f} s"
        )
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        db.flushdb()


if __name__ == "__main__":
    main()
