"""A variant Celery app for the replay benchmark: the production app with database connections
kept across tasks, to measure that change before making it.

    .venv/bin/python bench/replay.py --celery-app bench.replay_reuse

Celery's Django fixup closes every database connection before and after each task unless
`CELERY_DB_REUSE_MAX` is set, so each delivery opens a new PostgreSQL session (the benchmark
counts 1.00 per delivery). Here the setting is given, and `close_old_connections` runs around
each task instead, so `CONN_MAX_AGE` and `CONN_HEALTH_CHECKS` govern worker connections as they
govern web requests. Nothing in the repository imports this module.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")

from celery.signals import task_postrun, task_prerun  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import close_old_connections  # noqa: E402

# Read by the fixup when the worker starts: close (and count) only every this many tasks.
settings.CELERY_DB_REUSE_MAX = 1_000_000

from controltower.celery import app  # noqa: E402


def _tidy(**_: object) -> None:
    close_old_connections()


task_prerun.connect(_tidy, weak=False)
task_postrun.connect(_tidy, weak=False)

__all__ = ["app"]
