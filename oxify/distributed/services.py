"""The runtime of a distributed process (orchestrator, worker, producer), from settings."""

from __future__ import annotations

import threading

from celery import Celery

from oxify.config import Settings, load_hooks, load_plugins
from oxify.distributed.dispatcher import CeleryDispatcher
from oxify.nodes.registry import NodeRegistry
from oxify.runtime.hooks import Hooks
from oxify.runtime.runtime import Runtime, RuntimeOptions
from oxify.store.redis import RedisStore


def build_runtime(
    app: Celery,
    settings: Settings | None = None,
    *,
    plugins: bool = True,
    hooks: Hooks | None = None,
) -> Runtime:
    """A runtime on Redis and Celery: the executors of ``OXIFY_PLUGINS`` (with
    ``plugins``) and the hooks of ``OXIFY_HOOKS`` (unless ``hooks`` are given)."""
    s = settings or Settings.from_env()
    registry = NodeRegistry.default()
    if plugins:
        load_plugins(registry, s.plugins)
    return Runtime(
        RedisStore(s.redis_url),
        CeleryDispatcher(app),
        registry,
        hooks=hooks if hooks is not None else load_hooks(s.hooks),
        options=RuntimeOptions(
            result_ttl=s.result_ttl, lease=s.lease, dispatch_timeout=s.dispatch_timeout
        ),
    )


_lock = threading.Lock()
_runtime: Runtime | None = None


def runtime(app: Celery) -> Runtime:
    """This process's runtime (built on first use from the environment)."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime(app)
        return _runtime
