"""The dispatcher of distributed mode: node attempts as ``oxify.run_node`` Celery tasks on
their pool's queue (a level as one chord whose callback drives the execution), drives as
``oxify.start`` tasks on the orchestrators' queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery, chord

from oxify.runtime.dispatch import ORCHESTRATOR_QUEUE, NodeTask, task_id


class CeleryDispatcher:
    """:class:`~oxify.runtime.dispatch.Dispatcher` on Celery (JSON messages of ids only)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def _signature(self, t: NodeTask) -> Any:
        options: dict[str, Any] = {"queue": t.queue, "task_id": t.task_id}
        if t.delay > 0:
            options["countdown"] = t.delay
        return self.app.signature(
            "oxify.run_node",
            args=(t.execution_id, t.node_id, t.attempt, t.workflow_hash),
            kwargs={"name": t.name, "kind": t.kind, "notify": t.notify},
            **options,
        )

    def send(self, tasks: Sequence[NodeTask], level: int | None) -> None:
        signatures = [self._signature(t) for t in tasks]
        if level is not None and signatures:
            callback = self.app.signature(
                "oxify.level_done",
                args=(tasks[0].execution_id, level),
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

    def revoke(self, execution_id: str, attempts: Sequence[tuple[str, int]]) -> None:
        ids = [task_id(execution_id, n, a) for n, a in attempts]
        if ids:
            self.app.control.revoke(ids)
