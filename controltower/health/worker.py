"""What a Celery worker does each time it (re)connects to the broker.

Registered as a consumer bootstep in `controltower/celery.py`; the consumer starts its steps on
the first connection and again after every reconnect, so this runs then:

- it records a heartbeat for every queue it consumes, so `/readyz` sees a live worker at once
  (not only after beat's next heartbeat task), and again every interval while it stays connected;
- it asks for an immediate sweep of work whose task may have been lost while the broker was away
  (deliveries published into a Redis that restarted empty, publishes that failed), instead of
  leaving it to the periodic sweepers' 60 s grace.
"""

from __future__ import annotations

import logging

from celery import bootsteps

logger = logging.getLogger(__name__)


class AfterConnect(bootsteps.StartStopStep):
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c, **kwargs) -> None:
        super().__init__(c, **kwargs)
        self._repeat = None

    def start(self, c) -> None:
        from django.conf import settings

        queues = [queue.name for queue in c.task_consumer.queues]
        _record(queues, c.hostname)
        # While connected, the worker also says so every interval by itself: beat's heartbeat
        # tasks wait behind a queue's backlog and expire, which is latency, not a dead worker.
        self._repeat = c.timer.call_repeatedly(
            settings.HEARTBEAT_INTERVAL_SECONDS, _record, (queues, c.hostname)
        )
        from controltower.queueing import recovery_sweeps_queue

        recovery_sweeps_queue(c.app)  # a failure is logged; the next connect (or publish) retries
        logger.info("worker: connected; heartbeat recorded for %s, sweeps queued", ", ".join(queues))

    def stop(self, c) -> None:
        # Disconnected or stopping: no more heartbeats, so /readyz soon says no worker is seen.
        if self._repeat is not None:
            self._repeat.cancel()
            self._repeat = None


def _record(queues: list[str], hostname: str) -> None:
    from controltower.health.services import heartbeat_record

    try:
        for queue in queues:
            heartbeat_record(queue=queue, hostname=hostname)
    except Exception:  # noqa: BLE001 — the database may be down; the next beat tries again
        logger.warning("worker: could not record its heartbeat", exc_info=True)
