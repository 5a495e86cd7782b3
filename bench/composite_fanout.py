"""The cost of composite nodes: a ForEach whose body is a sub-workflow, against the same
fan-out as plain nodes and as a raw Celery group.

Starts its own orchestrator, control-pool worker and plain Celery worker on a dedicated
Redis database (default db 11, which must be empty; it is emptied at the end), like
bench/distributed_vs_celery.py. For each N it times (median of --repeat runs, submit to
result):

- group:    raw Celery, ``group(noop × N)``;
- flat:     oxify, one workflow with N no-op nodes side by side (one DAG level);
- foreach:  oxify, a ForEach over N items, ``parallel: true``, whose body is a sub-workflow
            (Start → no-op → End): N child executions, each with its own record, events and
            result, created, driven and reported back to the parent;
- embedded: the same ForEach in embedded mode (threads, no Redis), for scale.

It prints the ratios foreach/group and foreach/flat: what a child execution costs over a
plain node.

Usage: python3 bench/composite_fanout.py [--repeat 3] [--sizes 10,50,200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.distributed_vs_celery import cluster, median_time  # noqa: E402

NOOP = {"type": "Custom", "config": {"plugin_id": "oxify.noop", "plugin_version": "1"}}


def flat(n: int) -> Any:
    from oxify import parse_workflow

    nodes = [{"id": "start", "kind": {"type": "Start"}}]
    nodes += [{"id": f"n{i}", "kind": NOOP} for i in range(n)]
    nodes.append({"id": "end", "kind": {"type": "End", "config": {"outputs": {}}}})
    edges = [("start", f"n{i}") for i in range(n)] + [(f"n{i}", "end") for i in range(n)]
    return parse_workflow(
        {
            "metadata": {"name": f"flat-{n}"},
            "nodes": nodes,
            "edges": [{"from": a, "to": b} for a, b in edges],
        }
    )


def foreach(n: int) -> Any:
    from oxify import parse_workflow

    body = {
        "metadata": {"name": "body"},
        "nodes": [
            {"id": "s", "kind": {"type": "Start"}},
            {"id": "w", "kind": NOOP},
            {"id": "e", "kind": {"type": "End", "config": {"outputs": {"i": "{{item}}"}}}},
        ],
        "edges": [{"from": "s", "to": "w"}, {"from": "w", "to": "e"}],
    }
    loop = {
        "type": "Loop",
        "config": {
            "max_iterations": n,
            "loop_type": {
                "variant": "ForEach",
                "collection_path": "items",
                "item_variable": "item",
                "parallel": True,
                "body": body,
            },
        },
    }
    return parse_workflow(
        {
            "metadata": {"name": f"foreach-{n}"},
            "nodes": [
                {"id": "start", "kind": {"type": "Start"}},
                {"id": "loop", "kind": loop},
                {"id": "end", "kind": {"type": "End"}},
            ],
            "edges": [{"from": "start", "to": "loop"}, {"from": "loop", "to": "end"}],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    parser.add_argument(
        "--redis-url", default=os.environ.get("OXIFY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with cluster(args.redis_url, args.concurrency):
        from celery import group

        from bench.raw_celery import noop
        from oxify import Engine
        from oxify.client import Client

        client = Client(args.redis_url)
        engine = Engine(checkpoints=None)

        def run(workflow: Any, inputs: dict[str, Any]) -> None:
            result = client.wait(client.submit(workflow, inputs), timeout=600)
            assert result.ok, result.error

        print(f"ForEach over sub-workflows vs plain nodes vs raw Celery: Redis {args.redis_url},")
        print(f"{args.concurrency} threads per worker, median of {args.repeat}")
        cols = ("N", "group s", "flat s", "foreach s", "embedded s", "foreach/group")
        header = "{:>5} {:>9} {:>8} {:>10} {:>11} {:>14} {:>13}".format(*cols, "foreach/flat")
        print(header)
        print("-" * len(header))
        for n in sizes:
            items = {"items": list(range(n))}
            wf_flat, wf_loop = flat(n), foreach(n)
            run(wf_loop, items)  # warm up

            def raw(n: int = n) -> None:
                group(noop.si() for _ in range(n)).apply_async().get(timeout=600)

            raw()
            t_raw = median_time(raw, args.repeat)
            t_flat = median_time(lambda w=wf_flat: run(w, {}), args.repeat)
            t_loop = median_time(lambda w=wf_loop, i=items: run(w, i), args.repeat)

            def embedded(w: Any = wf_loop, i: dict[str, Any] = items) -> None:
                assert engine.run(w, i).ok

            t_emb = median_time(embedded, args.repeat)
            print(
                f"{n:>5} {t_raw:>9.3f} {t_flat:>8.3f} {t_loop:>10.3f} {t_emb:>11.3f} "
                f"{t_loop / t_raw:>13.2f}x {t_loop / t_flat:>12.2f}x"
            )


if __name__ == "__main__":
    main()
