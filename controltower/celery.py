"""The Celery application.

Configuration lives in Django settings under the `CELERY_` namespace (acks late, prefetch 1,
time limits, one queue per concern: ingest, delivery, replay, rules). On a laptop the broker is a
folder (kombu's filesystem transport) and a real worker process still runs every task; eager
mode is only used by unit tests that ask for it.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")

app = Celery("controltower")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_after_configure.connect
def _declare_queues(sender: Celery, **_: object) -> None:
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        settings.CELERY_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    # Each queue gets its own direct exchange and routing key: with Celery's defaults every queue
    # would be bound to the default queue's exchange and key, and a task would land in all four.
    sender.conf.task_queues = [
        Queue(name, Exchange(name, type="direct"), routing_key=name)
        for name in settings.CELERY_QUEUES.values()
    ]


app.autodiscover_tasks()
