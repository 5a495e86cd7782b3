"""One Coordinator per process, built on first use from the environment."""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery, chord

from oxify.config import Settings, load_hooks, load_plugins
from oxify.coordinator import ORCHESTRATOR_QUEUE, Coordinator, NodeTask, task_id
from oxify.nodes.registry import NodeRegistry
from oxify.store.redis import RedisStore

_lock = threading.Lock()
_coordinator: Coordinator | None = None


class CeleryDispatcher:
    """Sends node attempts as ``oxify.run_node`` tasks (a level as one chord)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def _signature(self, execution_id: str, workflow_hash: str, t: NodeTask) -> Any:
        options: dict[str, Any] = {
            "queue": t.queue,
            "task_id": task_id(execution_id, t.node_id, t.attempt),
        }
        if t.delay > 0:
            options["countdown"] = t.delay
        return self.app.signature(
            "oxify.run_node",
            args=(execution_id, t.node_id, t.attempt, workflow_hash),
            kwargs={"name": t.name, "kind": t.kind, "notify": t.notify},
            **options,
        )

    def send(
        self, execution_id: str, workflow_hash: str, tasks: list[NodeTask], level: int | None
    ) -> None:
        signatures = [self._signature(execution_id, workflow_hash, t) for t in tasks]
        if level is not None:
            callback = self.app.signature(
                "oxify.level_done",
                args=(execution_id, level),
                queue=ORCHESTRATOR_QUEUE,
                immutable=True,
            )
            chord(signatures)(callback)
            return
        for signature in signatures:
            signature.apply_async(ignore_result=True)

    def start(self, execution_id: str, delay: float = 0.0) -> None:
        self.app.send_task(
            "oxify.start",
            args=(execution_id,),
            queue=ORCHESTRATOR_QUEUE,
            ignore_result=True,
            countdown=delay if delay > 0 else None,
        )

    def revoke(self, execution_id: str, attempts: list[tuple[str, int]]) -> None:
        ids = [task_id(execution_id, n, a) for n, a in attempts]
        if ids:
            self.app.control.revoke(ids)


def build_coordinator(app: Celery, settings: Settings | None = None) -> Coordinator:
    """A Coordinator wired to Redis and Celery, with OXIFY_PLUGINS registered and the
    OXIFY_HOOKS hooks."""
    s = settings or Settings.from_env()
    registry = NodeRegistry.default()
    load_plugins(registry, s.plugins)
    return Coordinator(
        RedisStore(s.redis_url),
        CeleryDispatcher(app),
        registry,
        hooks=load_hooks(s.hooks),
        result_ttl=s.result_ttl,
        lease=s.lease,
        dispatch_timeout=s.dispatch_timeout,
    )


def coordinator() -> Coordinator:
    """This process's Coordinator."""
    global _coordinator
    with _lock:
        if _coordinator is None:
            from workers.app import app

            _coordinator = build_coordinator(app)
        return _coordinator
