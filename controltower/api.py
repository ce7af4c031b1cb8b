"""Small helpers every list API shares (ground floor)."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.serializers import Serializer


def filtered_page(
    *,
    request,
    view,
    queryset: QuerySet,
    serializer_class: type[Serializer],
    pagination_class: type[BasePagination] | None = None,
    context: dict | None = None,
) -> Response:
    """Apply the view's `filterset_class` (bad values: 400 naming the parameter), then one page
    of the view's `pagination_class` (which is also how the OpenAPI schema learns the answer is
    a page, not a bare list).

    For `APIView`s whose queryset depends on the caller (their scope), which is why they are
    not generic views."""
    queryset = DjangoFilterBackend().filter_queryset(request, queryset, view)
    paginator = (pagination_class or view.pagination_class)()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context or {}).data)


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.ChoiceFilter):
    """`true` or `false`; anything else is a 400 naming the parameter. (django-filter's own
    BooleanFilter quietly ignores a value it cannot read, so `?active=yes` would list all.)"""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("choices", (("true", "true"), ("false", "false")))
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        return super().filter(qs, {"true": True, "false": False}.get(value, value))


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time, turned to UTC. PostgreSQL takes offsets only up to ±15:59 and
    Python up to ±23:59, so `-19:00` would reach the database as a DataError (a 500); in UTC
    it is just a time, or, past year 1 or 9999, a 400 naming the parameter."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return None
        try:
            return result.astimezone(UTC)
        except OverflowError:
            raise ValidationError("Out of range once turned to UTC.", code="overflow") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
