"""The Celery app of distributed mode (``celery -A workers.app worker -Q oxify.control``, or
``oxify worker``).

JSON only, late acks, requeue on a lost worker, prefetch 1, and a visibility timeout longer
than any node timeout. Our own leases and reconciler do not wait for the broker's
redelivery: the broker's guarantees are a second line of defence.
"""

from __future__ import annotations

from celery import Celery

from oxify.config import Settings
from oxify.runtime.dispatch import ORCHESTRATOR_QUEUE

POOL_QUEUES: dict[str, str] = {
    "orchestrator": ORCHESTRATOR_QUEUE,
    "control": "oxify.control",
    "llm": "oxify.llm",
    "retriever": "oxify.retriever",
    "code": "oxify.code",
    "tool": "oxify.tool",
    "human": "oxify.human",
}
"""Worker pool name → the Celery queue it consumes."""


def make_app(settings: Settings | None = None) -> Celery:
    """A configured Celery app (tasks from ``workers.tasks`` and ``orchestrator.tasks``)."""
    s = settings or Settings.from_env()
    app = Celery("oxify", broker=s.broker_url, backend=s.result_backend)
    transport = {"visibility_timeout": s.visibility_timeout}
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        visibility_timeout=s.visibility_timeout,
        result_expires=24 * 3600,
        task_default_queue=POOL_QUEUES["control"],
        task_routes={
            "oxify.start": {"queue": ORCHESTRATOR_QUEUE},
            "oxify.level_done": {"queue": ORCHESTRATOR_QUEUE},
        },
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        # Task events cost a message per state change: off by default; Flower turns them on
        # (``--enable_events``, its default) while it watches.
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_hijack_root_logger=False,
    )
    app.conf.include = ["workers.tasks", "orchestrator.tasks"]
    return app
