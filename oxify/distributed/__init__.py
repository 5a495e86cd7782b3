"""The distributed body: the runtime over Redis and Celery (the app, the dispatcher, the
process runtime). The Celery entry points are ``workers`` and ``orchestrator``."""
