"""Read API for plants and suppliers, filtered by the caller's scope."""

from __future__ import annotations

import django_filters
from rest_framework import serializers, viewsets
from rest_framework.pagination import CursorPagination

from controltower.accounts.access import access_for
from controltower.api import StrictBooleanFilter
from controltower.masterdata import selectors
from controltower.masterdata.models import Plant, Supplier

PARTNER_FIELDS = ["id", "code", "name", "region", "time_zone", "active"]


class PlantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plant
        fields = PARTNER_FIELDS


class SupplierSerializer(serializers.ModelSerializer):
    class Meta:
        model = Supplier
        fields = PARTNER_FIELDS


class PartnerFilter(django_filters.FilterSet):
    region = django_filters.CharFilter()
    active = StrictBooleanFilter()


class ByCodePagination(CursorPagination):
    ordering = "code"


class PlantViewSet(viewsets.ReadOnlyModelViewSet):
    """Plants the caller may see (all of them, or those in the caller's scope)."""

    serializer_class = PlantSerializer
    lookup_field = "code"
    filterset_class = PartnerFilter
    pagination_class = ByCodePagination

    def get_queryset(self):
        return selectors.plants_visible(scope=access_for(self.request.user).scope)


class SupplierViewSet(viewsets.ReadOnlyModelViewSet):
    """Suppliers the caller may see (all of them, or those in the caller's scope)."""

    serializer_class = SupplierSerializer
    lookup_field = "code"
    filterset_class = PartnerFilter
    pagination_class = ByCodePagination

    def get_queryset(self):
        return selectors.suppliers_visible(scope=access_for(self.request.user).scope)
