"""Reading cases, always through the reader's scope."""

from __future__ import annotations

from django.db.models import F, QuerySet

from controltower.accounts.access import Access
from exceptions.models import Case, CaseEntry, Occurrence

#: States that still need a handler (the navigation's count).
NEEDS_WORK = (Case.State.OPEN, Case.State.ACKNOWLEDGED)


def cases_visible(*, access: Access) -> QuerySet[Case]:
    """Cases of the reader's plants and suppliers (a source system's token sees none)."""
    if access.system_id is not None:
        return Case.objects.none()
    cases = Case.objects.select_related("plant", "supplier", "system", "target", "assignee", "team")
    return access.scope.filter(cases, plant_field="plant_id", supplier_field="supplier_id")


def cases_needing_work_count(*, access: Access) -> int:
    return cases_visible(access=access).filter(state__in=NEEDS_WORK).count()


def case_history(*, case: Case, limit: int = 200) -> QuerySet[CaseEntry]:
    return case.entries.select_related("actor").order_by("-at", "-id")[:limit]


def case_occurrences(*, case: Case, limit: int = 50) -> QuerySet[Occurrence]:
    """The newest occurrences first, those whose cause is not gone before the cleared ones."""
    return case.occurrence_rows.order_by(F("cleared_at").asc(nulls_first=True), "-occurred_at", "-id")[:limit]
