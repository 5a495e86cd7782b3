"""The orchestrator's Celery entry point: tasks on ``oxify.orchestrator`` that drive
executions (``oxify orchestrator`` also runs the reconciler)."""
