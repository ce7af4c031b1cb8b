"""The manufacturing control tower (Django project package)."""

from controltower.celery import app as celery_app

__all__ = ["celery_app"]
