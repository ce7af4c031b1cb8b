"""Reading integrations data, always through the reader's access (scope or own system)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from controltower.accounts.access import Access
from integrations.models import CaptureJob, Event, EventIdentifier, RejectedMessage, SourceSystem


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
