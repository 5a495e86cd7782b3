"""Hooks for worker and orchestrator processes (``OXIFY_HOOKS=tests.pools.hooks:make``):
every event is recorded in Redis; ``before_node``/``after_node`` raise for nodes whose id
starts with ``boom`` (a broken hook must never fail a node)."""

from __future__ import annotations

import os
from typing import Any

from oxify.events import Event
from oxify.nodes.base import NodeContext
from oxify.runtime.hooks import Hooks


class RecordingHooks(Hooks):
    def __init__(self, url: str | None = None) -> None:
        import redis

        self.redis = redis.Redis.from_url(
            url or os.environ["OXIFY_REDIS_URL"], decode_responses=True
        )

    def on_event(self, event: Event) -> None:
        self.redis.rpush(f"oxify-test:hooks:{event.execution_id}", event.type)

    def before_node(self, ctx: NodeContext) -> None:
        if ctx.node.id.startswith("boom"):
            raise RuntimeError("before_node hook is broken")

    def after_node(self, ctx: NodeContext, output: Any, error: BaseException | None) -> None:
        if ctx.node.id.startswith("boom"):
            raise RuntimeError("after_node hook is broken")


def make() -> Hooks:
    return RecordingHooks()


def seen(url: str, execution_id: str) -> list[str]:
    """The event types the hooks of every process saw for an execution."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    return list(client.lrange(f"oxify-test:hooks:{execution_id}", 0, -1))
