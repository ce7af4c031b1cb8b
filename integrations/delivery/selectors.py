"""Readers of the delivery app: deliveries within scope, the sets bulk jobs work on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from controltower.accounts.access import Access
from integrations.delivery.models import Delivery, DeliveryAttempt, ReplayJob, Target

FINAL = (Delivery.Status.DELIVERED, Delivery.Status.DEAD_LETTERED)


class QueryError(ValueError):
    """A filter value that cannot be used; `field` names it."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


@dataclass(frozen=True)
class DeliveryQuery:
    """A filter over deliveries, as the API, the pages and bulk jobs take it.

    `since`/`until` bound the time the event was received (`created_at`) for listings and
    replays, and the time of dead-lettering for a bulk retry of dead letters.
    """

    target: str = ""
    status: str = ""
    type: str = ""
    plant: str = ""
    supplier: str = ""
    error_class: str = ""
    since: datetime | None = None
    until: datetime | None = None
    delivery: int | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> DeliveryQuery:
        """From request data; unknown keys are ignored, bad values raise `QueryError`."""
        values: dict[str, Any] = {}
        for name in ("target", "status", "type", "plant", "supplier", "error_class"):
            value = raw.get(name) or ""
            if not isinstance(value, str):
                raise QueryError(name, "Must be a string.")
            values[name] = value.strip()
        if values["status"] and values["status"] not in Delivery.Status.values:
            raise QueryError("status", f"One of {', '.join(Delivery.Status.values)}.")
        from integrations.delivery.services.policy import ERROR_CLASSES

        if values["error_class"] and values["error_class"] not in ERROR_CLASSES:
            raise QueryError("error_class", f"One of {', '.join(ERROR_CLASSES)}.")
        for name in ("since", "until"):
            value = raw.get(name)
            if value in (None, ""):
                continue
            try:
                parsed = parse_datetime(value) if isinstance(value, str) else None
                # In UTC: PostgreSQL refuses offsets past ±15:59 that Python takes (a 500).
                parsed = parsed.astimezone(UTC) if parsed and parsed.tzinfo else None
            except (ValueError, OverflowError):  # month 13, offset +99:00, year 0 once in UTC
                parsed = None
            if parsed is None:
                raise QueryError(name, "An ISO 8601 date-time with a UTC offset, e.g. 2026-11-27T08:00:00Z.")
            values[name] = parsed
        if raw.get("delivery") not in (None, ""):
            try:
                values["delivery"] = int(raw["delivery"])
            except (TypeError, ValueError):
                raise QueryError("delivery", "A delivery id.") from None
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        data = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value not in ("", None):
                data[item.name] = value.isoformat() if isinstance(value, datetime) else value
        return data

    def __bool__(self) -> bool:
        return any(value not in ("", None) for value in asdict(self).values())


def deliveries_visible(*, access: Access) -> QuerySet[Delivery]:
    """Deliveries of events about the caller's plants or suppliers, newest first."""
    deliveries = (
        Delivery.objects.select_related("target", "plant", "supplier", "event")
        # Lists show the event's id and source, not its body (loaded on demand where shown).
        .defer("event__data", "event__attributes")
        .order_by("-id")
    )
    if access.system_id is not None:
        return deliveries.filter(event__system_id=access.system_id)
    return access.scope.filter(deliveries, plant_field="plant_id", supplier_field="supplier_id")


def deliveries_filtered(queryset: QuerySet[Delivery], query: DeliveryQuery, *, window: str = "created_at"):
    if query.delivery is not None:
        queryset = queryset.filter(pk=query.delivery)
    if query.target:
        queryset = queryset.filter(target__code=query.target)
    if query.status:
        queryset = queryset.filter(status=query.status)
    if query.type:
        queryset = queryset.filter(type=query.type)
    if query.plant:
        queryset = queryset.filter(plant__code=query.plant)
    if query.supplier:
        queryset = queryset.filter(supplier__code=query.supplier)
    if query.error_class:
        queryset = queryset.filter(error_class=query.error_class)
    if query.since:
        queryset = queryset.filter(**{f"{window}__gte": query.since})
    if query.until:
        queryset = queryset.filter(**{f"{window}__lt": query.until})
    return queryset


def replay_candidates(
    *, kind: str, query: DeliveryQuery, access: Access, as_of: datetime
) -> QuerySet[Delivery]:
    """Exactly the deliveries a retry or replay job with `query` touches, as of `as_of`.

    A retry takes dead letters (dead-lettered by `as_of`); a replay takes deliveries to the
    one target that are finished (delivered or dead-lettered) and were created by `as_of` —
    deliveries still in flight are going anyway. "All" is all that match, never a page.
    """
    visible = deliveries_visible(access=access).order_by()
    if kind == ReplayJob.Kind.RETRY:
        found = deliveries_filtered(visible, _without_status(query), window="dead_lettered_at")
        return found.filter(status=Delivery.Status.DEAD_LETTERED, dead_lettered_at__lte=as_of)
    found = deliveries_filtered(visible, _without_status(query))
    return found.filter(status__in=FINAL, created_at__lte=as_of)


def _without_status(query: DeliveryQuery) -> DeliveryQuery:
    from dataclasses import replace

    return replace(query, status="")


def delivery_attempts(*, delivery: Delivery) -> QuerySet[DeliveryAttempt]:
    return DeliveryAttempt.objects.filter(delivery=delivery).select_related("job", "job__created_by")


def targets_all() -> QuerySet[Target]:
    return Target.objects.select_related("system", "paused_by").order_by("code")


def replay_jobs_visible(*, access: Access, user) -> QuerySet[ReplayJob]:
    """Jobs someone may see: all of them for people who see every plant and supplier; their own
    otherwise (a job's filter and items span whatever its starter could see)."""
    jobs = ReplayJob.objects.select_related("created_by", "cancelled_by").order_by("-id")
    if access.scope.everything:
        return jobs
    return jobs.filter(created_by_id=getattr(user, "pk", None))


def replay_progress(*, job: ReplayJob) -> dict[str, int]:
    """{pending, delivered, failed, cancelled} item counts of the job."""
    from django.db.models import Count

    counts = {outcome: 0 for outcome in ("pending", "delivered", "failed", "cancelled")}
    for row in job.items.values("outcome").annotate(n=Count("id")):
        counts[row["outcome"]] = row["n"]
    return counts
