"""The workers' Celery entry point: ``celery -A workers.app worker -Q oxify.<pool>``."""
