"""Reading integrations data, always through the reader's access (scope or own system)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from controltower.accounts.access import Access
from integrations.delivery.models import Delivery, Resubmission, Target
from integrations.delivery.selectors import deliveries_visible
from integrations.models import CaptureJob, Event, EventIdentifier, RejectedMessage, SourceSystem

#: The window of a system's rates on the systems page: recent enough to show a stall, long enough
#: to be read on the (system, received_at) index without counting a day of events.
ACTIVITY_WINDOW = timedelta(minutes=15)


def _scoped(queryset: QuerySet, access: Access, *, system_field: str) -> QuerySet:
    if access.system_id is not None:
        return queryset.filter(**{system_field: access.system_id})
    return access.scope.filter(queryset, plant_field="plant_id", supplier_field="supplier_id")


def events_visible(*, access: Access) -> QuerySet[Event]:
    queryset = Event.objects.select_related("system", "plant", "supplier").prefetch_related(
        Prefetch("identifiers", queryset=EventIdentifier.objects.order_by("id"))
    )
    return _scoped(queryset, access, system_field="system_id")


def systems_visible(*, access: Access) -> QuerySet[SourceSystem]:
    queryset = SourceSystem.objects.select_related("plant", "supplier").prefetch_related("sources")
    if access.system_id is not None:
        return queryset.filter(pk=access.system_id)
    return access.scope.filter(queryset, plant_field="plant_id", supplier_field="supplier_id")


def capture_jobs_visible(*, access: Access) -> QuerySet[CaptureJob]:
    """EPCIS capture jobs: a system sees its own; people those of their plants and suppliers."""
    return _scoped(CaptureJob.objects.select_related("system"), access, system_field="system_id")


def rejected_messages_visible(*, access: Access) -> QuerySet[RejectedMessage]:
    queryset = RejectedMessage.objects.select_related("system")
    return _scoped(queryset, access, system_field="system_id")


def _count_since(model, *, since: datetime) -> Coalesce:
    rows = model.objects.filter(system=OuterRef("pk"), received_at__gte=since).order_by()
    counted = rows.values("system").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _latest(model) -> Subquery:
    newest = model.objects.filter(system=OuterRef("pk")).order_by("-received_at").values("received_at")
    return Subquery(newest[:1])


def systems_with_activity(*, access: Access, now: datetime | None = None) -> QuerySet[SourceSystem]:
    """Visible systems with what they did lately: `last_event_at`, `last_rejected_at`, and the
    events stored (`recent_events`) and refused (`recent_rejected`) in the last `ACTIVITY_WINDOW`.

    Each figure is a subquery per system, the events' on their (system, received_at) index, so a
    render costs what the last minutes' traffic costs, however large the tables grow."""
    since = (now or timezone.now()) - ACTIVITY_WINDOW
    return systems_visible(access=access).annotate(
        last_event_at=_latest(Event),
        last_rejected_at=_latest(RejectedMessage),
        recent_events=_count_since(Event, since=since),
        recent_rejected=_count_since(RejectedMessage, since=since),
    )


def rejected_messages_listed(*, access: Access) -> QuerySet[RejectedMessage]:
    """Visible rejected messages, newest first, each with what its latest resubmission became
    (`resubmission_state`, None when never resubmitted)."""
    latest = Resubmission.objects.filter(original=OuterRef("pk")).order_by("-created_at", "-id")
    return rejected_messages_visible(access=access).annotate(
        resubmission_state=Subquery(latest.values("state")[:1])
    )


@dataclass(frozen=True)
class NetworkCounts:
    """The overview's tiles, each within the reader's scope."""

    events_today: int
    rejected_today: int
    dead_letters: int
    paused_targets: int
    open_circuits: int


def network_counts(*, access: Access, since: datetime) -> NetworkCounts:
    """What happened in the network since `since` (the start of the reader's day) and what needs
    hands now. Targets serve every plant, so their figures are not scoped."""
    targets = Target.objects.filter(active=True).aggregate(
        paused=Count("id", filter=Q(paused=True)),
        circuits=Count("id", filter=~Q(circuit=Target.Circuit.CLOSED)),
    )
    return NetworkCounts(
        events_today=events_visible(access=access).filter(received_at__gte=since).count(),
        rejected_today=rejected_messages_visible(access=access).filter(received_at__gte=since).count(),
        dead_letters=deliveries_visible(access=access).filter(status=Delivery.Status.DEAD_LETTERED).count(),
        paused_targets=targets["paused"],
        open_circuits=targets["circuits"],
    )
