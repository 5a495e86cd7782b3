"""The baseline of bench/distributed_vs_celery.py: plain Celery tasks and canvases, no oxify.

Started as ``celery -A bench.raw_celery worker -Q bench.raw`` by the benchmark.
"""

from __future__ import annotations

import os
import time

from celery import Celery

URL = os.environ.get("OXIFY_REDIS_URL", "redis://127.0.0.1:6379/11")

app = Celery("bench-raw", broker=URL, backend=URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue="bench.raw",
    result_expires=3600,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")
def noop() -> None:
    return None


@app.task(name="bench.sleep")
def sleep(seconds: float) -> None:
    time.sleep(seconds)
