"""Dead-lettered deliveries → dead-letter cases, one per target, error class and plant.

A target down for an hour dead-letters thousands of deliveries with the same error class:
they fold into one case per plant (so each plant's handlers see their own), counting each
delivery once. A delivery dead-lettered again after a retry is a new occurrence. The cause is
gone once the delivery was delivered (by a retry, a replay, or the target recovering).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Exists, OuterRef

from controltower.traces.models import TraceEvent
from exceptions.models import Case, Occurrence
from exceptions.services.opening import Sighting
from integrations.delivery.models import Delivery

_ERROR_WORDS = {
    "timeout": "timed out",
    "connection": "could not be reached",
    "http_4xx": "refused the messages (4xx)",
    "http_408": "timed out on its side (408)",
    "http_429": "kept answering 'too many requests' (429)",
    "http_5xx": "failed with server errors (5xx)",
    "protocol": "answered in a way we could not read",
}


def _sentence(delivery: Delivery) -> tuple[str, str]:
    target = delivery.target.code
    how = _ERROR_WORDS.get(delivery.error_class, f"failed ({delivery.error_class or 'no answer'})")
    where = f" for plant {delivery.plant.code}" if delivery.plant_id else ""
    title = f"{target} {how}: deliveries{where} dead-lettered"
    summary = (
        f"{target} {how}, so the {delivery.type} event it should have received{where} was given up "
        f"after {delivery.attempts_total} attempt{'s' if delivery.attempts_total != 1 else ''}: "
        f"{delivery.dead_letter_reason or delivery.last_error}. "
        f"Once {target} is fine again, retry the deliveries from this case."
    )
    return title, summary


def sighting_of(delivery: Delivery, trace_id: int | None) -> Sighting:
    title, summary = _sentence(delivery)
    # Scoped by plant only: a storm across 240 suppliers is one case per plant, not thousands.
    plant_id = delivery.plant_id
    supplier_id = None if plant_id else delivery.supplier_id
    return Sighting(
        kind=Case.Kind.DEAD_LETTER,
        source=Occurrence.Source.DELIVERY,
        ref_id=delivery.pk,
        occurred_at=delivery.dead_lettered_at or delivery.created_at,
        title=title,
        summary=summary,
        severity=Case.Severity.HIGH,
        error_class=delivery.error_class,
        target_id=delivery.target_id,
        system_id=delivery.target.system_id,
        plant_id=plant_id,
        supplier_id=supplier_id,
        trace_id=trace_id,
        detail=(delivery.dead_letter_reason or delivery.last_error)[:500],
        evidence={
            "delivery": delivery.pk,
            "event": delivery.event_id,
            "target": delivery.target.code,
            "type": delivery.type,
            "error_class": delivery.error_class,
            "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
            "reason": delivery.dead_letter_reason,
            "attempts": delivery.attempts_total,
        },
    )


def dead_letter_sightings(*, ids: Iterable[int]) -> list[Sighting]:
    """Sightings for those of the deliveries `ids` that are dead-lettered now."""
    rows = list(
        Delivery.objects.filter(pk__in=list(ids), status=Delivery.Status.DEAD_LETTERED)
        .select_related("target", "plant")
        .order_by("dead_lettered_at", "id")
    )
    traces = dict(
        TraceEvent.objects.filter(event_id__in={row.event_id for row in rows}).values_list(
            "event_id", "trace_id"
        )
    )
    return [sighting_of(row, traces.get(row.event_id)) for row in rows]


def deliveries_delivered(*, ids: Iterable[int]) -> list[int]:
    """Those of `ids` delivered now: their dead letter's cause is gone."""
    return list(
        Delivery.objects.filter(pk__in=list(ids), status=Delivery.Status.DELIVERED).values_list(
            "pk", flat=True
        )
    )


def dead_letters_missed(*, since: datetime, limit: int) -> list[int]:
    """Deliveries dead-lettered since `since` that no case counts as of that dead-lettering."""
    counted = Occurrence.objects.filter(
        source=Occurrence.Source.DELIVERY,
        ref_id=OuterRef("pk"),
        occurred_at__gte=OuterRef("dead_lettered_at"),
        cleared_at__isnull=True,
    )
    return list(
        Delivery.objects.filter(status=Delivery.Status.DEAD_LETTERED, dead_lettered_at__gte=since)
        .exclude(Exists(counted))
        .order_by("dead_lettered_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


def delivered_uncleared(*, limit: int) -> list[int]:
    """Deliveries delivered since but still counted in a case (the sweeper clears them)."""
    counted = Occurrence.objects.filter(
        source=Occurrence.Source.DELIVERY, ref_id=OuterRef("pk"), cleared_at__isnull=True
    )
    return list(
        Delivery.objects.filter(Exists(counted), status=Delivery.Status.DELIVERED).values_list(
            "pk", flat=True
        )[:limit]
    )
