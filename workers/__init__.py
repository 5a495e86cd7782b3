"""Celery app and worker tasks (distributed mode). Not built yet: see the README status."""
