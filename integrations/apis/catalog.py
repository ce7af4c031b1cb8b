"""Read APIs: the contract catalog, the systems of the network, rejected messages."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.accounts.access import CanConfigure, access_for
from controltower.accounts.roles import Capability
from controltower.api import filtered_page
from controltower.parsers import StrictJSONParser
from integrations import selectors
from integrations.apis.filters import RejectedMessageFilter
from integrations.apis.pagination import NewestFirst
from integrations.apis.serializers import RejectedMessageSerializer, SystemSerializer
from integrations.contracts import Contract, contract_get, contracts_all
from integrations.contracts.identifiers import identifier_specs
from integrations.services.network import network_load

ContractOutput = inline_serializer(
    "Contract",
    {
        "type": serializers.CharField(),
        "version": serializers.IntegerField(),
        "latest": serializers.BooleanField(),
        "dataschema": serializers.CharField(),
        "identifiers": serializers.ListField(child=serializers.DictField()),
        "business_time": serializers.CharField(
            allow_null=True,
            help_text="Pointer (within data) of the event's own time: its business time when the CloudEvent has no `time`.",
        ),
        "schema": serializers.DictField(),
        "example": serializers.DictField(),
    },
    many=True,
)


def contract_as_dict(contract: Contract) -> dict:
    latest = contract_get(contract.type)
    return {
        "type": contract.type,
        "version": contract.version,
        "latest": latest is not None and latest.version == contract.version,
        "dataschema": contract.schema_uri,
        "identifiers": [
            {"pointer": spec.pointer, "kind": spec.kind, "prefix_pointer": spec.prefix_pointer}
            for spec in identifier_specs(contract.identifiers)
        ],
        "business_time": contract.business_time,
        "schema": contract.schema,
        "example": contract.example,
    }


class ContractListApi(APIView):
    """Every contract version the intake accepts, with schema, example and business identifiers."""

    @extend_schema(responses=ContractOutput)
    def get(self, request):
        return Response([contract_as_dict(c) for c in contracts_all()])


class ContractDetailApi(APIView):
    """One event type: all its versions (the latest is used when `dataschema` is absent)."""

    @extend_schema(responses=ContractOutput, operation_id="v1_contracts_versions")
    def get(self, request, type: str):
        versions = [c for c in contracts_all() if c.type == type]
        if not versions:
            raise NotFound(f"No contract {type!r}.")
        return Response([contract_as_dict(c) for c in versions])


class SystemListApi(APIView):
    """Systems of the network you may see (a system token sees only itself)."""

    @extend_schema(responses=SystemSerializer(many=True))
    def get(self, request):
        systems = selectors.systems_visible(access=access_for(request.user))
        return Response(SystemSerializer(systems, many=True).data)


class NetworkLoadApi(APIView):
    """Onboard or update plants, suppliers and systems from one document (admins only).

    The same document `manage.py load_network` reads: `{"plants": [...], "suppliers": [...],
    "systems": [...]}`. Idempotent, and all or nothing: an invalid entry changes nothing.
    """

    permission_classes = [CanConfigure]
    parser_classes = [StrictJSONParser]  # a JSON document, as `load_network` reads

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=inline_serializer(
            "NetworkLoaded",
            {
                "plants": serializers.IntegerField(),
                "suppliers": serializers.IntegerField(),
                "systems": serializers.IntegerField(),
            },
        ),
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            raise ValidationError(
                {"non_field_errors": ["Send one JSON object with plants, suppliers and systems."]}
            )
        try:
            counts = network_load(document=request.data)
        except DjangoValidationError as exc:
            raise ValidationError(_nested(exc)) from exc
        return Response(counts)


def _nested(exc: DjangoValidationError) -> dict:
    """`{"systems[0].plant": [...]}` as `{"systems": {"0": {"plant": [...]}}}`, so the problem
    names the field by JSON pointer (/systems/0/plant)."""
    if not hasattr(exc, "error_dict"):
        return {"non_field_errors": exc.messages}
    nested: dict = {}
    for key, messages in exc.message_dict.items():
        parts = [part for part in re.split(r"[\[\].]", key) if part]
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = messages
    return nested


class RejectedMessageListApi(APIView):
    """Refused messages, kept with their raw body and the errors we answered."""

    filterset_class = RejectedMessageFilter
    pagination_class = NewestFirst

    @extend_schema(responses=RejectedMessageSerializer(many=True), filters=True)
    def get(self, request):
        access = access_for(request.user)
        return filtered_page(
            request=request,
            view=self,
            queryset=selectors.rejected_messages_visible(access=access),
            serializer_class=RejectedMessageSerializer,
            context={"payloads": access.can(Capability.VIEW_PAYLOADS)},
        )


class RejectedMessageDetailApi(APIView):
    @extend_schema(responses=RejectedMessageSerializer)
    def get(self, request, pk: int):
        access = access_for(request.user)
        rejected = get_object_or_404(selectors.rejected_messages_visible(access=access), pk=pk)
        context = {"payloads": access.can(Capability.VIEW_PAYLOADS)}
        return Response(RejectedMessageSerializer(rejected, context=context).data)
