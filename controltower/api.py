"""Small helpers every list API shares (ground floor)."""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.serializers import Serializer


def filtered_page(
    *,
    request,
    view,
    queryset: QuerySet,
    serializer_class: type[Serializer],
    pagination_class: type[BasePagination],
    context: dict | None = None,
) -> Response:
    """Apply the view's `filterset_class` (bad values: 400 naming the parameter), then one page.

    For `APIView`s whose queryset depends on the caller (their scope), which is why they are
    not generic views."""
    queryset = DjangoFilterBackend().filter_queryset(request, queryset, view)
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context or {}).data)
