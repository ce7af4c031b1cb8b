"""What a Celery worker does each time it (re)connects to the broker.

Registered as a consumer bootstep in `controltower/celery.py`; the consumer starts its steps on
the first connection and again after every reconnect, so this runs then:

- it records a heartbeat for every queue it consumes, so `/readyz` sees a live worker at once
  (not only after beat's next heartbeat task);
- it asks for an immediate sweep of work whose task may have been lost while the broker was away
  (deliveries published into a Redis that restarted empty, publishes that failed), instead of
  leaving it to the periodic sweepers' 60 s grace.
"""

from __future__ import annotations

import logging

from celery import bootsteps

logger = logging.getLogger(__name__)

# Sent by name: the ground floor does not import the apps that own these tasks.
RECONNECT_SWEEPS = (
    ("integrations.delivery.sweep", {"immediate": True}, "delivery"),
    ("controltower.traces.correlate_pending", {}, "rules"),
)


class AfterConnect(bootsteps.StartStopStep):
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c) -> None:
        from django.conf import settings

        from controltower.health.services import heartbeat_record

        queues = [queue.name for queue in c.task_consumer.queues]
        try:
            for queue in queues:
                heartbeat_record(queue=queue, hostname=c.hostname)
        except Exception:  # noqa: BLE001 — the database may be down too; beat's heartbeat follows
            logger.warning("worker: could not record its heartbeat on connecting", exc_info=True)
        for name, kwargs, concern in RECONNECT_SWEEPS:
            try:
                c.app.send_task(name, kwargs=kwargs, queue=settings.CELERY_QUEUES[concern])
            except Exception:  # noqa: BLE001 — the broker went again; the next connect retries
                logger.warning("worker: could not queue %s after connecting", name)
        logger.info("worker: connected; heartbeat recorded for %s, sweeps queued", ", ".join(queues))
