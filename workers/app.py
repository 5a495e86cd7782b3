"""The Celery app: ``celery -A workers.app worker -Q oxify.control`` (or ``oxify worker``)."""

from __future__ import annotations

from oxify.distributed.app import POOL_QUEUES, make_app

__all__ = ["POOL_QUEUES", "app"]

app = make_app()
