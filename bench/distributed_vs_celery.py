"""oxify on Celery + Redis against the cheapest hand-written Celery canvas of the same shape.

Starts its own processes on a dedicated Redis database (default db 11, which must be empty;
it is emptied at the end): an oxify orchestrator and a control-pool worker, and a plain
Celery worker for the baseline, each with the same thread pool size. Then, for each DAG
shape, it times (median of --repeat runs, submit to result):

- canvas:   Celery canvas: ``chain(group(noop × width) × depth)`` (a plain chain for width
            1); for the skewed DAG, ``group(chain(branch A), chain(branch B))``;
- barrier:  the client sends each level as a ``group`` and waits for it before the next;
            ratios are taken against the faster of canvas and barrier;
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
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def cluster(redis_url: str, concurrency: int) -> Iterator[None]:
    """An oxify orchestrator, a control-pool worker and a plain Celery worker (the
    baseline) on ``redis_url``, which must be an empty database; it is emptied at the end.
    Logs go to ``$TMPDIR/bench-*.log``."""
    db = redis.Redis.from_url(redis_url)
    if db.dbsize():
        sys.exit(f"refusing to run: {redis_url} is not empty")
    env = dict(os.environ, OXIFY_REDIS_URL=redis_url, PYTHONPATH=str(ROOT))
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    oxify_cmd = [sys.executable, "-m", "oxify.cli"]
    quiet = ["--loglevel", "warning"]
    threads = str(concurrency)
    procs = [
        spawn(
            [*oxify_cmd, "orchestrator", "--concurrency", "4", *quiet],
            env,
            logs / "bench-orchestrator.log",
        ),
        spawn(
            [*oxify_cmd, "worker", "--pool", "control", "--concurrency", threads, *quiet],
            env,
            logs / "bench-control.log",
        ),
        spawn(
            [
                *(sys.executable, "-m", "celery", "-A", "bench.raw_celery", "worker"),
                *("-Q", "bench.raw", "-P", "threads", "-c", threads, "-n", "raw@%h", *quiet),
            ],
            env,
            logs / "bench-raw.log",
        ),
    ]
    try:
        os.environ["OXIFY_REDIS_URL"] = redis_url
        from bench.raw_celery import app as raw_app

        deadline = time.monotonic() + 60
        while len(raw_app.control.ping(timeout=0.5) or []) < 3:
            if time.monotonic() > deadline:
                sys.exit("workers did not start; see bench-*.log in " + str(logs))
        yield
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

    with cluster(args.redis_url, args.concurrency):
        from celery import chain, group

        from bench.raw_celery import noop, sleep
        from oxify.client import Client

        client = Client(args.redis_url)

        def run_oxify(workflow: Any, mode: str) -> None:
            result = client.wait(client.submit(workflow, mode=mode), timeout=600)
            assert result.ok, result.error

        print(f"oxify distributed vs raw Celery: Redis {args.redis_url},", end=" ")
        print(f"{args.concurrency} threads per worker, median of {args.repeat}")
        cols = ("shape", "nodes", "canvas s", "barrier s", "levels s", "dataflow s")
        header = "{:<9} {:>6} {:>9} {:>10} {:>9} {:>11} {:>11} {:>13}".format(
            *cols, "levels/raw", "dataflow/raw"
        )
        print(header)
        print("-" * len(header))

        def row(
            name: str, nodes: int, canvas: float, barrier: float, lv: float, df: float
        ) -> float:
            best = min(canvas, barrier)
            line = f"{name:<9} {nodes:>6} {canvas:>9.3f} {barrier:>10.3f} {lv:>9.3f} {df:>11.3f}"
            print(f"{line} {lv / best:>10.2f}x {df / best:>12.2f}x")
            return lv / best

        ratios = []
        for width, depth in SHAPES:
            wf = layered(width, depth)

            def canvas(width: int = width, depth: int = depth) -> None:
                # a fresh canvas each time: a reused one keeps its task ids (and results)
                if width == 1:
                    flow = chain(*[noop.si() for _ in range(depth)])
                else:
                    flow = chain(*[group(noop.si() for _ in range(width)) for _ in range(depth)])
                flow.apply_async().get(timeout=600)

            def barrier(width: int = width, depth: int = depth) -> None:
                # the client waits for each level's group before sending the next one
                for _ in range(depth):
                    group(noop.si() for _ in range(width)).apply_async().get(timeout=600)

            run_oxify(wf, "levels")  # warm up (workflow cache, connections)
            canvas()
            t_canvas = median_time(canvas, args.repeat)
            t_barrier = median_time(barrier, args.repeat)
            t_lv = median_time(lambda w=wf: run_oxify(w, "levels"), args.repeat)
            t_df = median_time(lambda w=wf: run_oxify(w, "dataflow"), args.repeat)
            ratios.append(row(f"{width}x{depth}", width * depth, t_canvas, t_barrier, t_lv, t_df))
        wf = skewed(args.slow)

        def raw_skewed() -> None:
            branch_a = chain(sleep.si(args.slow), *[sleep.si(0.0) for _ in range(4)])
            branch_b = chain(*[sleep.si(0.0) for _ in range(4)], sleep.si(args.slow))
            group(branch_a, branch_b).apply_async().get(timeout=600)

        def barrier_skewed() -> None:
            for level in range(5):
                slow_a = args.slow if level == 0 else 0.0
                slow_b = args.slow if level == 4 else 0.0
                group(sleep.si(slow_a), sleep.si(slow_b)).apply_async().get(timeout=600)

        t_canvas = median_time(raw_skewed, args.repeat)
        t_barrier = median_time(barrier_skewed, args.repeat)
        t_lv = median_time(lambda: run_oxify(wf, "levels"), args.repeat)
        t_df = median_time(lambda: run_oxify(wf, "dataflow"), args.repeat)
        row("skewed", 10, t_canvas, t_barrier, t_lv, t_df)
        print()
        mean = statistics.geometric_mean(ratios)
        print(f"levels mode vs the faster raw Celery (layered shapes): geometric mean {mean:.2f}x")
        print(f"  per shape: {', '.join(f'{r:.2f}x' for r in ratios)} (target <= 1.5x)")
        print(
            f"skewed DAG: dataflow {t_df:.3f} s, levels {t_lv:.3f} s, slow branch {args.slow:.3f} s"
        )
        print(f"  dataflow / slow branch = {t_df / args.slow:.2f}x")


if __name__ == "__main__":
    main()
