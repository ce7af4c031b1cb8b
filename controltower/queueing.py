"""The one way to queue a Celery task from business code.

`enqueue` sends now; `enqueue_after_commit` sends once the current transaction commits, so a
worker never looks for rows that are not there yet (or never will be, after a rollback). Both leave
a broker failure to the sweepers that own each kind of work: they log it and return False instead
of failing the business transaction that already succeeded.

A process that failed to publish also asks for those sweeps itself, at the first publish that
succeeds again (`recovery_sweeps_queue`): the work it could not queue then moves within seconds of
the broker's return, not at the periodic sweepers' next pass. A worker does the same on every
reconnect (controltower/health/worker.py), but a web process can lose the broker while the worker
stays connected, and then only this process knows something is waiting.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# Sent by name: the ground floor does not import the apps that own these tasks. Each finds work
# whose task was never queued (or was lost with the broker's memory) and queues it again.
RECOVERY_SWEEPS = (
    ("integrations.delivery.sweep", {"immediate": True}, "delivery"),
    ("controltower.traces.correlate_pending", {}, "rules"),
)

# True once a publish from this process failed, until the recovery sweeps are queued: all the
# hot path pays is reading this flag. Threads may race on it; at worst the sweeps go out twice,
# and a sweep is idempotent.
_publish_failed = False


def enqueue(
    task, /, *, queue: str, options: dict | None = None, if_lost: str = "its sweeper will", **kwargs
) -> bool:
    """Queue `task(**kwargs)` on `queue` (a key of `CELERY_QUEUES`); False, logged, when the
    broker is unreachable — for callers whose work a sweeper picks up later. `options` go to
    `apply_async` (a retry policy, say); `if_lost` tells the log's reader what happens next."""
    global _publish_failed
    queue_name = _queue_name(queue)
    try:
        task.apply_async(kwargs=kwargs, queue=queue_name, **(options or {}))
    except Exception:  # noqa: BLE001 — any broker failure
        _publish_failed = True
        logger.warning("could not queue %s %s; %s", task.name, kwargs, if_lost, exc_info=True)
        return False
    if _publish_failed:
        _publish_failed = False
        if recovery_sweeps_queue(task.app):
            logger.info("the broker is back: sweeps queued for the work this process could not queue")
    return True


def enqueue_after_commit(task, /, *, queue: str, using: str | None = None, **kwargs) -> None:
    """`enqueue`, after the current transaction commits (at once outside a transaction)."""
    _queue_name(queue)  # a bug is raised here, in the caller, not after its commit
    transaction.on_commit(lambda: enqueue(task, queue=queue, **kwargs), using=using)


def recovery_sweeps_queue(app) -> bool:
    """Queue every `RECOVERY_SWEEPS` task at once on the Celery `app`; False (and the next
    successful `enqueue` tries again) if the broker failed meanwhile."""
    global _publish_failed
    for name, kwargs, queue in RECOVERY_SWEEPS:
        try:
            app.send_task(name, kwargs=kwargs, queue=settings.CELERY_QUEUES[queue])
        except Exception:  # noqa: BLE001 — the broker went again
            _publish_failed = True
            logger.warning("could not queue the recovery sweep %s; the next publish tries again", name)
            return False
    return True


def _queue_name(concern: str) -> str:
    # An unknown concern is a bug, not an outage: raised, never logged and left to a sweeper.
    try:
        return settings.CELERY_QUEUES[concern]
    except KeyError:
        raise KeyError(
            f"no queue for {concern!r}; CELERY_QUEUES has {sorted(settings.CELERY_QUEUES)}"
        ) from None
