"""Keeping cases in step with their sources: after each batch of changes, and by a sweep.

Both read the current state of what changed (a change is a hint, never data): a refused
message or a dead letter opens or folds a case; a fixed message or a delivered delivery clears
its occurrence, and a case with none left resolves itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from exceptions.models import Occurrence
from exceptions.services.opening import cases_open_or_fold, occurrences_clear
from exceptions.services.workflow import cases_wake
from exceptions.sources.dead_letters import (
    dead_letter_sightings,
    dead_letters_missed,
    delivered_uncleared,
    deliveries_delivered,
)
from exceptions.sources.rejected import (
    rejected_fixed_uncleared,
    rejected_gone,
    rejected_missed,
    rejected_sightings,
)

logger = logging.getLogger(__name__)

RESUBMITTED = "The refused message was fixed: a resubmission, or the same event, was accepted."
DELIVERED = "The dead-lettered delivery was delivered since (a retry, a replay or the target recovering)."


@dataclass
class Followed:
    opened: int = 0
    reopened: int = 0
    folded: int = 0
    resolved: int = 0

    def add(self, outcomes, resolved) -> None:
        for outcome in outcomes:
            if outcome.result == "opened":
                self.opened += 1
            elif outcome.result == "reopened":
                self.reopened += 1
            elif outcome.result == "folded":
                self.folded += 1
        self.resolved += len(resolved)


def cases_follow(*, rejected_ids: Iterable[int] = (), delivery_ids: Iterable[int] = ()) -> Followed:
    """Open, fold or self-resolve the cases of these refused messages and deliveries, as they
    are now. Idempotent: the same ids again change nothing more."""
    rejected_ids, delivery_ids = sorted(set(rejected_ids)), sorted(set(delivery_ids))
    followed = Followed()
    if rejected_ids:
        fixed = rejected_gone(ids=rejected_ids)
        followed.add(
            cases_open_or_fold(sightings=rejected_sightings(ids=rejected_ids)),
            occurrences_clear(source=Occurrence.Source.REJECTED, ref_ids=fixed, why=RESUBMITTED),
        )
    if delivery_ids:
        delivered = deliveries_delivered(ids=delivery_ids)
        followed.add(
            cases_open_or_fold(sightings=dead_letter_sightings(ids=delivery_ids)),
            occurrences_clear(source=Occurrence.Source.DELIVERY, ref_ids=delivered, why=DELIVERED),
        )
    return followed


def cases_sweep(*, limit: int = 1000) -> Followed:
    """Catch up on whatever the change path missed (a broker down, a lost task, changes from
    code that announces nothing yet): refused messages and dead letters of the look-back window
    no case counts, occurrences whose cause is gone, and snoozes that ended. Idempotent; bounded
    by `limit` per kind and run (the next run takes the rest)."""
    since = timezone.now() - timedelta(hours=settings.EXCEPTIONS_SWEEP_LOOKBACK_HOURS)
    followed = cases_follow(
        rejected_ids=rejected_missed(since=since, limit=limit) + rejected_fixed_uncleared(limit=limit),
        delivery_ids=dead_letters_missed(since=since, limit=limit) + delivered_uncleared(limit=limit),
    )
    woken = cases_wake(limit=limit)
    if followed.opened or followed.reopened or followed.folded or followed.resolved or woken:
        logger.info("exceptions sweep: %s, %d snooze(s) ended", followed, woken)
    return followed
