"""Reactions to what `integrations` announces: accepted events are queued for correlation."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# Ids per task: a 1,000-event batch becomes two tasks well inside the task time limit.
IDS_PER_TASK = 500
# Fail fast when the broker is unreachable: this runs in the request that stored the events.
_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def enqueue_correlation(sender: Any, event_ids: list[int], **kwargs: Any) -> None:
    """Receiver of `events_accepted` (sent after commit): queue `correlate` for the events.

    Never raises into the request: the events are stored whatever happens here, and events
    whose task was never queued are found by the `correlate_pending` sweeper.
    """
    from controltower.traces.tasks import correlate

    ids = list(event_ids)
    for start in range(0, len(ids), IDS_PER_TASK):
        chunk = ids[start : start + IDS_PER_TASK]
        try:
            correlate.apply_async(
                kwargs={"event_ids": chunk},
                queue=settings.CELERY_QUEUES["rules"],
                retry=True,
                retry_policy=_PUBLISH_RETRY,
            )
        except Exception:  # noqa: BLE001 — any broker failure; the sweeper catches up
            # The broker is down: don't make the request wait on it once per chunk.
            logger.warning(
                "traces: could not queue correlation of %d event(s); the sweeper will",
                len(ids) - start,
                exc_info=True,
            )
            return
