from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError

from controltower.api import UtcDateTimeFilter
from integrations.models import Event, RejectedMessage


def validate_kind_value(value: str) -> None:
    kind, sep, ident = value.partition(":")
    if not sep or not kind or not ident:
        raise ValidationError("Use KIND:VALUE, e.g. purchase_order:4500012345.")


class EventFilter(django_filters.FilterSet):
    source = django_filters.CharFilter()
    id = django_filters.CharFilter(field_name="event_id")
    type = django_filters.CharFilter()
    system = django_filters.CharFilter(field_name="system__code")
    plant = django_filters.CharFilter(field_name="plant__code")
    supplier = django_filters.CharFilter(field_name="supplier__code")
    identifier = django_filters.CharFilter(
        method="filter_identifier", help_text="KIND:VALUE", validators=[validate_kind_value]
    )
    identifier_kind = django_filters.CharFilter(field_name="identifiers__kind", distinct=True)
    identifier_value = django_filters.CharFilter(field_name="identifiers__value", distinct=True)
    received_after = UtcDateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = UtcDateTimeFilter(field_name="received_at", lookup_expr="lt")
    time_after = UtcDateTimeFilter(field_name="event_time", lookup_expr="gte")
    time_before = UtcDateTimeFilter(field_name="event_time", lookup_expr="lt")

    class Meta:
        model = Event
        fields: list[str] = []

    def filter_identifier(self, queryset, name, value):
        kind, _, ident = value.partition(":")
        return queryset.filter(identifiers__kind=kind, identifiers__value=ident).distinct()


class RejectedMessageFilter(django_filters.FilterSet):
    system = django_filters.CharFilter(field_name="system__code")
    type = django_filters.CharFilter()
    source = django_filters.CharFilter()
    received_after = UtcDateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = UtcDateTimeFilter(field_name="received_at", lookup_expr="lt")

    class Meta:
        model = RejectedMessage
        fields: list[str] = []
