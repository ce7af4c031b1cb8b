"""Reactions to what `integrations` announces: accepted events are queued for correlation, and
a delivery's change is a change of the traces whose pages list it."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from controltower.changes import Change, Kind
from controltower.queueing import enqueue, enqueue_after_commit

logger = logging.getLogger(__name__)

# Ids per task: a 1,000-event batch becomes two tasks well inside the task time limit.
IDS_PER_TASK = 500
# Fail fast when the broker is unreachable: this runs in the request that stored the events.
_PUBLISH_OPTIONS = {
    "retry": True,
    "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2},
}


def enqueue_correlation(sender: Any, event_ids: list[int], **kwargs: Any) -> None:
    """Receiver of `events_accepted` (sent after commit): queue `correlate` for the events.

    Never raises into the request: the events are stored whatever happens here, and events
    whose task was never queued are found by the `correlate_pending` sweeper.
    """
    from controltower.traces.tasks import correlate

    ids = list(event_ids)
    for start in range(0, len(ids), IDS_PER_TASK):
        chunk = ids[start : start + IDS_PER_TASK]
        queued = enqueue(
            correlate,
            queue="rules",
            options=_PUBLISH_OPTIONS,
            if_lost=f"the correlation sweeper will take these and {len(ids) - start - len(chunk)} more",
            event_ids=chunk,
        )
        if not queued:  # the broker is down: don't make the request wait on it once per chunk
            return


def remember_rule_scope(sender: Any, instance: Any, **kwargs: Any) -> None:
    """`pre_save` of `IdentifierRule`: note what the rule covered before an edit, so the
    events it no longer covers are re-keyed too."""
    if instance.pk:
        old = sender.objects.filter(pk=instance.pk).values_list("kind", "system_id").first()
        instance._covered_before = old


def enqueue_rekey(sender: Any, instance: Any, **kwargs: Any) -> None:
    """`post_save`/`post_delete` of `IdentifierRule`: after commit, queue `rekey` for what the
    rule covers now and covered before. Never raises into the admin's request."""
    from controltower.traces.tasks import rekey

    scopes = {(instance.kind, instance.system_id)}
    if getattr(instance, "_covered_before", None):
        scopes.add(instance._covered_before)

    for kind, system_id in sorted(scopes, key=str):
        enqueue_after_commit(
            rekey,
            queue="rules",
            options=_PUBLISH_OPTIONS,
            if_lost=f"run `manage.py rekey_identifiers {kind}` when the broker is back",
            kind=kind,
            system_id=system_id,
        )


DELIVERY_KINDS = frozenset({Kind.DELIVERY_CHANGED, Kind.DEAD_LETTERED})


def announce_traces_of_deliveries(sender: Any, changes: list[Change], **kwargs: Any) -> None:
    """Receiver of `controltower.changes.changed`: a delivery that changed (its id is the
    delivery's) changes what its event's traces show, so those traces are announced changed.

    Integrations cannot name traces (they sit below them); this one indexed query per committed
    transaction with delivery changes lets a trace page listen to its own trace only, instead of
    re-rendering on every delivery in its viewer's scope. Runs after the delivery committed;
    the announcements go out together, as one batch.
    """
    from controltower.traces.selectors import traces_of_deliveries
    from controltower.traces.services.announcing import trace_changed_announce

    ids = {int(c.id) for c in changes if c.kind in DELIVERY_KINDS and str(c.id).isdigit()}
    if not ids:
        return
    with transaction.atomic():  # an atomic block of reads only: one `changed` for all
        for trace_id, plant_id, supplier_id in sorted(traces_of_deliveries(delivery_ids=ids), key=str):
            trace_changed_announce(trace_id=trace_id, plant_id=plant_id, supplier_id=supplier_id)
