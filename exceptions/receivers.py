"""Listening to the change boundary: one rules task per committed batch of relevant changes."""

from __future__ import annotations

from typing import Any

from controltower.changes import Change, Kind

#: Which changes concern cases.
REJECTED_KINDS = frozenset({Kind.MESSAGE_REJECTED, Kind.MESSAGE_CHANGED})
# Fail fast when the broker is unreachable: this runs after the commit of whoever changed things
# (a request, a delivery worker), and the sweeper catches up anyway.
_PUBLISH_OPTIONS = {
    "retry": True,
    "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2},
}


def _counted(delivery_ids: set[int]) -> set[int]:
    from exceptions.models import Occurrence

    return set(
        Occurrence.objects.filter(
            source=Occurrence.Source.DELIVERY, ref_id__in=delivery_ids, cleared_at__isnull=True
        ).values_list("ref_id", flat=True)
    )


def _ids(changes: list[Change], kinds: frozenset[Kind] | set[Kind]) -> set[int]:
    found = set()
    for change in changes:
        if change.kind in kinds and change.id is not None:
            try:
                found.add(int(change.id))
            except (TypeError, ValueError):
                continue
    return found


def cases_follow_changes(sender: Any, changes: list[Change], **kwargs: Any) -> None:
    """Receiver of `controltower.changes.changed` (sent after commit): queue ONE `follow` task
    for the batch on the rules queue. A lost task is the sweeper's (`exceptions.sweep`)."""
    _queue_rules(changes)
    rejected_ids = _ids(changes, REJECTED_KINDS)
    dead_ids = _ids(changes, {Kind.DEAD_LETTERED})
    # Every delivery announces its changes, nearly all of them "delivered": only those a case
    # counts matter (one indexed read here instead of a task per batch of deliveries).
    changed_ids = _ids(changes, {Kind.DELIVERY_CHANGED}) - dead_ids
    delivery_ids = dead_ids | (_counted(changed_ids) if changed_ids else set())
    if not (rejected_ids or delivery_ids):
        return
    from controltower.queueing import enqueue
    from exceptions.tasks import follow

    enqueue(
        follow,
        queue="rules",
        options=_PUBLISH_OPTIONS,
        rejected_ids=sorted(rejected_ids),
        delivery_ids=sorted(delivery_ids),
    )


#: Changes the business rules read: accepted events (their type is read by the task, not here:
#: this runs on intake's hot path) and traces whose milestones may have moved.
RULE_EVENT_KINDS = frozenset({Kind.EVENT_ACCEPTED})
RULE_TRACE_KINDS = frozenset({Kind.TRACE_CHANGED, Kind.MILESTONE_LATE})


def _queue_rules(changes: list[Change]) -> None:
    """One `rules` task per committed batch that accepted events or changed traces."""
    event_ids, trace_ids = _ids(changes, RULE_EVENT_KINDS), _ids(changes, RULE_TRACE_KINDS)
    if not (event_ids or trace_ids):
        return
    from controltower.queueing import enqueue
    from exceptions.tasks import rules

    enqueue(
        rules,
        queue="rules",
        options=_PUBLISH_OPTIONS,
        event_ids=sorted(event_ids),
        trace_ids=sorted(trace_ids),
    )
