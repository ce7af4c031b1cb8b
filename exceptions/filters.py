"""THE filter of case queues, shared by the queue page and the cases API: every filter and the
sort are URL parameters, so a view of the queue can be bookmarked and shared."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.db.models import F, Q
from django.utils import timezone

from exceptions.models import Case

QUEUES = {
    "mine": "My queue",
    "team": "My teams",
    "unassigned": "Unassigned",
    "all": "All",
}
#: `state=` values: the workflow states, and "active" (open or acknowledged: what needs work).
STATES = [("active", "Needs work (open or acknowledged)"), *Case.State.choices]
SEVERITIES = [(label.lower(), label) for _, label in Case.Severity.choices]
_SEVERITY_VALUE = {label.lower(): value for value, label in Case.Severity.choices}
AGES = [
    ("1h", "Opened in the last hour"),
    ("24h", "Opened in the last 24 hours"),
    ("older-24h", "Open for more than 24 hours"),
    ("older-7d", "Open for more than 7 days"),
    ("overdue", "Past its SLA"),
]
SORTS = {
    "severity": ("Most severe first", [F("severity").desc(), F("sla_due_at").asc(nulls_last=True), "-id"]),
    "sla": ("SLA due soonest", [F("sla_due_at").asc(nulls_last=True), F("severity").desc(), "-id"]),
    "age": ("Oldest first", ["opened_at", "id"]),
    "recent": ("Seen most recently", ["-last_seen_at", "-id"]),
}
DEFAULT_SORT = "severity"


class CaseFilter(django_filters.FilterSet):
    queue = django_filters.ChoiceFilter(choices=list(QUEUES.items()), method="by_queue", empty_label="All")
    state = django_filters.ChoiceFilter(choices=STATES, method="by_state", empty_label="Any state")
    kind = django_filters.MultipleChoiceFilter(choices=Case.Kind.choices)
    severity = django_filters.MultipleChoiceFilter(choices=SEVERITIES, method="by_severity")
    plant = django_filters.CharFilter(field_name="plant__code")
    supplier = django_filters.CharFilter(field_name="supplier__code")
    system = django_filters.CharFilter(method="by_system", help_text="A source system's or target's code.")
    age = django_filters.ChoiceFilter(choices=AGES, method="by_age", empty_label="Any age")
    sort = django_filters.ChoiceFilter(
        choices=[(name, label) for name, (label, _) in SORTS.items()], method="by_sort", empty_label=None
    )

    class Meta:
        model = Case
        fields: list[str] = []

    def __init__(self, data=None, *args, **kwargs):
        data = data.copy() if data is not None else {}
        # A bare queue URL shows what needs work, most severe first.
        if "state" not in data:
            data["state"] = "active"
        if not data.get("sort"):
            data["sort"] = DEFAULT_SORT
        super().__init__(data, *args, **kwargs)

    def by_queue(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        if value == "mine":
            return queryset.filter(assignee=user)
        if value == "team":
            return queryset.filter(team__members=user)
        if value == "unassigned":
            return queryset.filter(assignee__isnull=True)
        return queryset

    def by_state(self, queryset, name, value):
        if value == "active":
            return queryset.filter(state__in=(Case.State.OPEN, Case.State.ACKNOWLEDGED))
        return queryset.filter(state=value)

    def by_severity(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(severity__in=[_SEVERITY_VALUE[item] for item in value])

    def by_system(self, queryset, name, value):
        return queryset.filter(Q(system__code=value) | Q(target__code=value))

    def by_age(self, queryset, name, value):
        now = timezone.now()
        if value == "1h":
            return queryset.filter(opened_at__gte=now - timedelta(hours=1))
        if value == "24h":
            return queryset.filter(opened_at__gte=now - timedelta(hours=24))
        if value == "older-24h":
            return queryset.filter(opened_at__lt=now - timedelta(hours=24))
        if value == "older-7d":
            return queryset.filter(opened_at__lt=now - timedelta(days=7))
        return queryset.filter(sla_due_at__lt=now)

    def by_sort(self, queryset, name, value):
        return queryset.order_by(*SORTS.get(value, SORTS[DEFAULT_SORT])[1])
