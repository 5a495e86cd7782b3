"""Executors the tests use, registered in every process (OXIFY_PLUGINS=tests.plugins for
the worker processes; ``register`` directly for embedded runs)."""

from __future__ import annotations

import os
import time
from typing import Any

from oxify.nodes.base import NodeContext
from oxify.nodes.registry import NodeRegistry


def mutate(ctx: NodeContext) -> Any:
    """Changes what it reads from upstream: must not change the upstream's own output."""
    out = ctx.upstream["a"]
    out["list"].append("mutated")
    return out


def not_json(ctx: NodeContext) -> Any:
    return object()


def _redis() -> Any:
    import redis

    from tests.cluster import TEST_REDIS_URL

    return redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)


def count(ctx: NodeContext) -> Any:
    """Counts its calls in Redis (``oxify-test:calls:<execution>:<node>``), then behaves like
    ``oxify.sleep``: waits ``seconds`` (or until cancelled) and returns ``output``."""
    options = ctx.config.config or {}
    r = _redis()
    r.rpush(f"oxify-test:calls:{ctx.execution_id}:{ctx.node.id}", ctx.attempt)
    if options.get("tally"):  # a count across executions (children, replays)
        r.rpush(f"oxify-test:tally:{options['tally']}", ctx.render_value(options.get("mark", "")))
    r.set(f"oxify-test:pid:{ctx.execution_id}:{ctx.node.id}", os.getpid())
    deadline = time.monotonic() + float(options.get("seconds", 0))
    while time.monotonic() < deadline and not ctx.cancelled():
        time.sleep(0.01)
    return ctx.render_value(options.get("output", ctx.node.id))


def gate(ctx: NodeContext) -> Any:
    """Fails (not retryable) while the gate ``name`` is closed (see :func:`open_gate`),
    else returns ``output``; each call is tallied under ``tally`` like ``test.count``."""
    from oxify.errors import NodeError

    options = ctx.config.config or {}
    r = _redis()
    if options.get("tally"):
        r.rpush(f"oxify-test:tally:{options['tally']}", ctx.node.id)
    if not r.exists(f"oxify-test:gate:{options['name']}"):
        raise NodeError(f"gate {options['name']} is closed")
    return ctx.render_value(options.get("output", "open"))


def stubborn(ctx: NodeContext) -> Any:
    """Numbers its calls under ``tally`` (``oxify-test:stubborn:<tally>``); with
    ``fail_first`` the first call fails (retryable); any other call then works for
    ``seconds`` *ignoring cancellation* (as a blocking library call would) and returns
    ``call-<n>``: a late result tells which call produced it."""
    from oxify.errors import NodeError

    options = ctx.config.config or {}
    r = _redis()
    n = int(r.incr(f"oxify-test:stubborn:{options['tally']}"))
    r.rpush(f"oxify-test:tally:{options['tally']}", f"call-{n}")
    if options.get("fail_first") and n == 1:
        raise NodeError("first call fails", retryable=True)
    time.sleep(float(options.get("seconds", 0)))
    return f"call-{n}"


def open_gate(name: str) -> None:
    _redis().set(f"oxify-test:gate:{name}", 1)


def suicide(ctx: NodeContext) -> Any:
    """A poison node: kills the process that runs it (run it only on a prefork pool)."""
    import signal

    _redis().rpush(f"oxify-test:calls:{ctx.execution_id}:{ctx.node.id}", ctx.attempt)
    os.kill(os.getpid(), signal.SIGKILL)


def calls(execution_id: str, node_id: str) -> list[int]:
    """The attempts ``test.count`` saw for a node."""
    return [int(a) for a in _redis().lrange(f"oxify-test:calls:{execution_id}:{node_id}", 0, -1)]


def tally(name: str) -> list[Any]:
    """What ``test.count`` nodes with ``tally: name`` recorded (their ``mark``), in order."""
    return list(_redis().lrange(f"oxify-test:tally:{name}", 0, -1))


def register(registry: NodeRegistry) -> None:
    registry.register_custom("test.mutate", mutate)
    registry.register_custom("test.object", not_json)
    registry.register_custom("test.count", count)
    registry.register_custom("test.suicide", suicide)
    registry.register_custom("test.gate", gate)
    registry.register_custom("test.stubborn", stubborn)
