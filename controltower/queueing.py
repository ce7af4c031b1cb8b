"""The one way to queue a Celery task from business code.

`enqueue` sends now; `enqueue_after_commit` sends once the current transaction commits, so a
worker never looks for rows that are not there yet (or never will be, after a rollback). Both leave
a broker failure to the sweepers that own each kind of work: they log it and return False instead
of failing the business transaction that already succeeded.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(
    task, /, *, queue: str, options: dict | None = None, if_lost: str = "its sweeper will", **kwargs
) -> bool:
    """Queue `task(**kwargs)` on `queue` (a key of `CELERY_QUEUES`); False, logged, when the
    broker is unreachable — for callers whose work a sweeper picks up later. `options` go to
    `apply_async` (a retry policy, say); `if_lost` tells the log's reader what happens next."""
    queue_name = _queue_name(queue)
    try:
        task.apply_async(kwargs=kwargs, queue=queue_name, **(options or {}))
    except Exception:  # noqa: BLE001 — any broker failure
        logger.warning("could not queue %s %s; %s", task.name, kwargs, if_lost, exc_info=True)
        return False
    return True


def enqueue_after_commit(task, /, *, queue: str, using: str | None = None, **kwargs) -> None:
    """`enqueue`, after the current transaction commits (at once outside a transaction)."""
    _queue_name(queue)  # a bug is raised here, in the caller, not after its commit
    transaction.on_commit(lambda: enqueue(task, queue=queue, **kwargs), using=using)


def _queue_name(concern: str) -> str:
    # An unknown concern is a bug, not an outage: raised, never logged and left to a sweeper.
    try:
        return settings.CELERY_QUEUES[concern]
    except KeyError:
        raise KeyError(
            f"no queue for {concern!r}; CELERY_QUEUES has {sorted(settings.CELERY_QUEUES)}"
        ) from None
