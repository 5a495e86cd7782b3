"""Celery orchestrator tasks (distributed mode). Not built yet: see the README status."""
