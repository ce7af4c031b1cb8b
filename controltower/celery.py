"""The Celery application.

Configuration lives in Django settings under the `CELERY_` namespace (acks late, prefetch 1,
time limits, one queue per concern: ingest, delivery, replay, rules). On a laptop the broker is a
folder (our atomic variant of kombu's filesystem transport, controltower/broker.py) and a real worker process still runs every task; eager
mode is only used by unit tests that ask for it.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init
from kombu import Exchange, Queue

from controltower import broker
from controltower.health.worker import AfterConnect

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")

# `ctfs://`, the embedded broker, must be known to kombu before any connection is made.
broker.register()
app = Celery("controltower")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_after_configure.connect
def _declare_queues(sender: Celery, **_: object) -> None:
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("ctfs://"):
        settings.CELERY_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    # Each queue gets its own direct exchange and routing key: with Celery's defaults every queue
    # would be bound to the default queue's exchange and key, and a task would land in all four.
    sender.conf.task_queues = [
        Queue(name, Exchange(name, type="direct"), routing_key=name)
        for name in settings.CELERY_QUEUES.values()
    ]


app.autodiscover_tasks()
# On every (re)connect: a heartbeat per queue and an immediate sweep (controltower/health/worker.py).
app.steps["consumer"].add(AfterConnect)

# Celery's Django fix-up closes every database connection before and after each task unless
# this is set; a delivery task then spends more on connecting than on its queries (one new
# PostgreSQL session per task in bench/replay.py). We keep connections instead and let Django
# decide, as it does per request: CONN_MAX_AGE, and a health check after an error.
app.conf["CELERY_DB_REUSE_MAX"] = 2**62


@worker_process_init.connect
def _name_database_sessions(**_: object) -> None:
    """Worker sessions show as `controltower-worker` in `pg_stat_activity` (web ones as
    `controltower`), so an operator can tell who holds which connection."""
    from django.db import connections

    for connection in connections.all():
        if connection.vendor == "postgresql":
            connection.settings_dict.setdefault("OPTIONS", {})["application_name"] = "controltower-worker"


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(task=None, **_: object) -> None:
    # Not for a task run in the caller's process (`apply`, eager mode): those are the caller's
    # connections, possibly inside its transaction.
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
