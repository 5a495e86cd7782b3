"""``oxify`` commands of distributed mode: submit, status, watch, cancel, list, worker,
orchestrator, dev (and ``run --distributed``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from oxify.cli.common import (
    EXIT_OK,
    UsageError,
    add_execution_options,
    config_from,
    finish,
    read_inputs,
    watch,
)

POOL_TYPES = ("prefork", "threads", "solo")
THREAD_POOLS = frozenset({"orchestrator", "control", "llm", "retriever", "tool", "human"})


def _client(args: argparse.Namespace) -> Any:
    from oxify.client import Client

    return Client(args.redis_url)


def run_distributed(args: argparse.Namespace) -> int:
    """``oxify run FILE --distributed``: submit, watch, print the result."""
    inputs = read_inputs(args)
    config = config_from(args)
    client = _client(args)
    execution_id = client.submit(args.file, inputs, config)
    show = not args.json and not args.quiet and (args.progress or sys.stderr.isatty())
    result = watch(client, execution_id, quiet=not show)
    return finish(result, args.json)


def cmd_submit(args: argparse.Namespace) -> int:
    inputs = read_inputs(args)
    config = config_from(args)
    client = _client(args)
    execution_id = client.submit(args.file, inputs, config, idempotency_key=args.idempotency_key)
    if args.wait:
        result = watch(client, execution_id, quiet=args.json or not sys.stderr.isatty())
        return finish(result, args.json)
    if args.json:
        print(json.dumps({"execution_id": execution_id}))
    else:
        print(execution_id)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    result = _client(args).get(args.execution_id)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"execution {result.execution_id}: {result.state.value}")
    if result.error:
        print(f"error: {result.error}")
    width = max((len(n.name) for n in result.nodes.values()), default=4)
    for node in result.nodes.values():
        extra = f"  {node.error}" if node.error else ""
        if node.skip_reason:
            extra = f"  ({node.skip_reason})"
        attempts = f"  attempts={node.attempts}" if node.attempts > 1 else ""
        print(f"  {node.name:<{width}}  {node.state.value:<9}{attempts}{extra}")
    if result.state.terminal:
        print(json.dumps(result.outputs, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    client = _client(args)
    result = watch(client, args.execution_id)
    return finish(result, args.json)


def cmd_cancel(args: argparse.Namespace) -> int:
    from oxify.cli.durable import signal_embedded

    if signal_embedded(args.execution_id, "cancel"):
        return EXIT_OK
    client = _client(args)
    client.cancel(args.execution_id, args.reason)
    result = client.get(args.execution_id)
    print(f"execution {args.execution_id}: {result.state.value}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    rows = _client(args).list(args.state, args.limit, include_children=args.all)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for row in rows:
        created = datetime.fromtimestamp(row["created_at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        child = f"  (child of {row['parent']})" if row.get("parent") else ""
        print(f"{row['execution_id']}  {row['state']:<9}  {created}  {row['workflow']}{child}")
    return EXIT_OK


def _start_worker(
    args: argparse.Namespace,
    queues: list[str],
    pool_type: str,
    concurrency: int,
    name: str,
    reconciler: bool,
) -> int:
    if args.redis_url:
        os.environ["OXIFY_REDIS_URL"] = args.redis_url
    from oxify.config import Settings
    from oxify.store.redis import RedisStore

    settings = Settings.from_env()
    RedisStore(settings.redis_url).ping()  # a wrong URL is one clear line, not a traceback
    from workers.app import app

    if reconciler:
        from oxify.distributed.services import runtime

        runtime(app).reconciler.start(settings.reconcile_interval, settings.stall_after)
    argv = [
        "worker",
        "-Q",
        ",".join(queues),
        "-P",
        pool_type,
        "-c",
        str(concurrency),
        "-n",
        f"{name}@%h",
        "--loglevel",
        args.loglevel,
    ]
    app.worker_main(argv)
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.app import POOL_QUEUES

    pools = [p.strip() for p in (args.pool or "").split(",") if p.strip()]
    own = [q.strip() for q in args.queue or [] if q.strip()]
    if not pools and not own:
        raise UsageError("give --pool NAME (a built-in pool) and/or --queue QUEUE (a private one)")
    unknown = [p for p in pools if p not in POOL_QUEUES]
    if unknown:
        raise UsageError(f"unknown pool {unknown[0]!r} (pools: {', '.join(POOL_QUEUES)})")
    queues = [POOL_QUEUES[p] for p in pools] + own
    threaded = all(p in THREAD_POOLS for p in pools)
    pool_type = args.pool_type or ("threads" if threaded else "prefork")
    concurrency = args.concurrency or (16 if pool_type == "threads" else (os.cpu_count() or 2))
    name = "-".join(pools) or "-".join(own)
    return _start_worker(args, queues, pool_type, concurrency, name, reconciler=False)


def cmd_orchestrator(args: argparse.Namespace) -> int:
    from workers.app import POOL_QUEUES

    return _start_worker(
        args,
        [POOL_QUEUES["orchestrator"]],
        "threads",
        args.concurrency or 8,
        "orchestrator",
        reconciler=True,
    )


def cmd_dev(args: argparse.Namespace) -> int:
    from workers.app import POOL_QUEUES

    queues = list(POOL_QUEUES.values()) + list(args.queue or [])
    return _start_worker(args, queues, "threads", args.concurrency or 16, "dev", reconciler=True)


def add_commands(sub: Any) -> None:
    """Add the distributed-mode subcommands to the ``oxify`` parser."""

    def redis_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--redis-url",
            metavar="URL",
            help="Redis URL (default: OXIFY_REDIS_URL, then redis://127.0.0.1:6379/0)",
        )

    p = sub.add_parser(
        "submit", help="submit a workflow to the worker pools; print its execution id"
    )
    p.add_argument("file", metavar="FILE")
    add_execution_options(p)
    p.add_argument("--wait", action="store_true", help="wait for the end and print the result")
    p.add_argument("--idempotency-key", metavar="KEY", help="the same key twice submits once")
    redis_option(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", help="show an execution and its nodes")
    p.add_argument("execution_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="the same JSON document as run --json")
    redis_option(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("watch", help="follow an execution live until it ends")
    p.add_argument("execution_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print the final result as JSON")
    redis_option(p)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("cancel", help="cancel an execution (queued and running nodes stop)")
    p.add_argument("execution_id", metavar="ID")
    p.add_argument("--reason", default="cancelled by request", help="recorded as the error")
    redis_option(p)
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("list", help="list recent executions, newest first")
    p.add_argument("--state", choices=("pending", "running", "completed", "failed", "cancelled"))
    p.add_argument("--limit", type=int, default=20, metavar="N")
    p.add_argument(
        "--all", action="store_true", help="include the child executions of composite nodes"
    )
    p.add_argument("--json", action="store_true")
    redis_option(p)
    p.set_defaults(func=cmd_list)

    def worker_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--concurrency", type=int, metavar="N", help="tasks at once")
        p.add_argument("--queue", action="append", metavar="Q", help="also consume this queue")
        p.add_argument("--loglevel", default="info", help="Celery log level (default info)")
        redis_option(p)

    p = sub.add_parser(
        "worker",
        help="start a Celery worker for one or more node pools",
        description="Start a worker for node pools: orchestrator, control, llm, retriever, code, "
        "tool, human (comma-separated), and/or private queues (--queue acme.gpu: the queue "
        'named by the nodes\' "queue" field). Threads by default for I/O-bound pools, '
        "prefork for code. A worker needs the executors of the nodes it runs, and only those: "
        "load plugins with OXIFY_PLUGINS.",
    )
    p.add_argument("--pool", help="pool name(s), e.g. llm or llm,tool")
    p.add_argument("--pool-type", choices=POOL_TYPES, help="Celery execution pool")
    worker_options(p)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "orchestrator", help="start an orchestrator (drives executions; runs the reconciler)"
    )
    worker_options(p)
    p.set_defaults(func=cmd_orchestrator)

    p = sub.add_parser(
        "dev", help="start an orchestrator and every pool in one process (local development)"
    )
    worker_options(p)
    p.set_defaults(func=cmd_dev)
