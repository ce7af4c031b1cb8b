"""Liveness, readiness and Celery worker heartbeats."""
