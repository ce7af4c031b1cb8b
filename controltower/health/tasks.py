"""Celery tasks of the health app."""

from __future__ import annotations

from celery import shared_task

from controltower.health.services import heartbeat_record


@shared_task(name="controltower.health.heartbeat", bind=True, ignore_result=True)
def heartbeat(self, concern: str) -> None:
    """Record that a worker consumed from the queue this task was routed to.

    Idempotent: it only moves a timestamp. `concern` is the queue's role (ingest, delivery, …);
    the actual queue name comes from the delivery info, so renamed queues still report truly.
    """
    queue = (self.request.delivery_info or {}).get("routing_key") or concern
    heartbeat_record(queue=queue, hostname=self.request.hostname or "unknown")
