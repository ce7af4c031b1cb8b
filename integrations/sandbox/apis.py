"""`/api/v1/sandbox/…`: read and set sandbox receivers, read and clear what they received.

The sandbox is a tool for people: a source system's token is refused (403). What a receiver
received is scoped as the deliveries it received are: a plant-scoped user sees the receipts of
their plants' deliveries only, and counts only those."""

from __future__ import annotations

from collections.abc import Mapping

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.accounts.access import CanConfigure, CanView, IsPerson, access_for
from controltower.accounts.roles import Capability
from controltower.api import filtered_page
from integrations.apis.pagination import NewestFirst
from integrations.apis.serializers import payloads_visible
from integrations.sandbox import selectors, services
from integrations.sandbox.models import SandboxReceipt, SandboxReceiver


class SandboxReceiverSerializer(serializers.ModelSerializer):
    sandbox = serializers.SerializerMethodField(
        help_text="Always true: a simulated target, not a real system."
    )
    url = serializers.SerializerMethodField(help_text="Where a target delivers to this receiver.")
    has_secret = serializers.SerializerMethodField(help_text="The secret itself is never shown.")
    receipt_count = serializers.IntegerField(read_only=True, help_text="Distinct Idempotency-Keys received.")
    received_count = serializers.IntegerField(
        read_only=True, help_text="Requests recorded, repeats included."
    )
    last_receipt_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = SandboxReceiver
        fields = [
            "code",
            "name",
            "description",
            "sandbox",
            "url",
            "error_rate",
            "error_status",
            "retry_after_seconds",
            "latency_ms",
            "outage",
            "auth_kind",
            "has_secret",
            "receipt_count",
            "received_count",
            "last_receipt_at",
            "created_at",
            "updated_at",
        ]

    def get_sandbox(self, receiver: SandboxReceiver) -> bool:
        return True

    def get_url(self, receiver: SandboxReceiver) -> str:
        path = selectors.sandbox_receiver_path(code=receiver.code)
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_has_secret(self, receiver: SandboxReceiver) -> bool:
        return bool(receiver.secret)


class SandboxReceiverSettingsSerializer(serializers.ModelSerializer):
    """The settable fields; anything else in the body is refused by name, not silently ignored."""

    class Meta:
        model = SandboxReceiver
        fields = list(services.SETTABLE_FIELDS)
        extra_kwargs = {"secret": {"write_only": True}}

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        errors = {name: ["Not a setting of a sandbox receiver."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except ValidationError as exc:
            if not isinstance(exc.detail, Mapping):
                raise
            errors.update(exc.detail)
        if errors:
            raise ValidationError(errors)
        return value


class SandboxReceiptSerializer(serializers.ModelSerializer):
    body = serializers.SerializerMethodField(
        help_text="The body as first received; null without the view_payloads permission."
    )

    class Meta:
        model = SandboxReceipt
        fields = [
            "id",
            "idempotency_key",
            "event_type",
            "event_id",
            "content_type",
            "headers",
            "body",
            "first_received_at",
            "last_received_at",
            "times_received",
        ]

    def get_body(self, receipt: SandboxReceipt) -> str | None:
        return receipt.body if payloads_visible(self) else None


class SandboxReceiptFilter(django_filters.FilterSet):
    idempotency_key = django_filters.CharFilter()
    event_type = django_filters.CharFilter()
    event_id = django_filters.CharFilter()

    class Meta:
        model = SandboxReceipt
        fields: list[str] = []


def _receiver_or_404(request, code: str) -> SandboxReceiver:
    receivers = selectors.sandbox_receivers_with_counts(access=access_for(request.user))
    return get_object_or_404(receivers, code=code)


class ReceiverListApi(APIView):
    """Sandbox receivers (simulated targets), their settings and how much each received."""

    permission_classes = [IsPerson, CanView]

    @extend_schema(responses=SandboxReceiverSerializer(many=True))
    def get(self, request):
        receivers = selectors.sandbox_receivers_with_counts(access=access_for(request.user))
        return Response(SandboxReceiverSerializer(receivers, many=True, context={"request": request}).data)


class ReceiverDetailApi(APIView):
    """GET: one sandbox receiver. PATCH: change its behaviour (configure permission)."""

    def get_permissions(self):
        return [IsPerson(), CanConfigure() if self.request.method == "PATCH" else CanView()]

    @extend_schema(responses=SandboxReceiverSerializer)
    def get(self, request, code: str):
        return Response(
            SandboxReceiverSerializer(_receiver_or_404(request, code), context={"request": request}).data
        )

    @extend_schema(
        request=SandboxReceiverSettingsSerializer,
        responses=SandboxReceiverSerializer,
        description=(
            "Set any of error_rate (0-1), error_status, retry_after_seconds, latency_ms, outage, auth_kind and "
            "secret (write-only), name, description. Takes effect on the receiver's next request."
        ),
    )
    def patch(self, request, code: str):
        receiver = _receiver_or_404(request, code)
        settings = SandboxReceiverSettingsSerializer(data=request.data, partial=True)
        settings.is_valid(raise_exception=True)
        try:
            services.sandbox_receiver_configure(receiver=receiver, **settings.validated_data)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from exc
        return Response(
            SandboxReceiverSerializer(_receiver_or_404(request, code), context={"request": request}).data
        )


class ReceiptListApi(APIView):
    """GET: what a sandbox receiver received, newest first. DELETE: forget it (configure permission)."""

    filterset_class = SandboxReceiptFilter

    def get_permissions(self):
        return [IsPerson(), CanConfigure() if self.request.method == "DELETE" else CanView()]

    @extend_schema(
        operation_id="v1_sandbox_receivers_receipts_list",
        parameters=[
            OpenApiParameter("idempotency_key", str, description="Only the receipt for this key."),
            OpenApiParameter("event_type", str),
            OpenApiParameter("event_id", str),
            OpenApiParameter("cursor", str, description="From `next` or `previous` of a page."),
        ],
        responses=inline_serializer(
            "PaginatedSandboxReceiptList",
            {
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": SandboxReceiptSerializer(many=True),
            },
        ),
    )
    def get(self, request, code: str):
        receiver = _receiver_or_404(request, code)
        access = access_for(request.user)
        return filtered_page(
            request=request,
            view=self,
            queryset=selectors.sandbox_receipts_visible(access=access, receiver=receiver),
            serializer_class=SandboxReceiptSerializer,
            pagination_class=NewestFirst,
            context={"payloads": access.can(Capability.VIEW_PAYLOADS)},
        )

    @extend_schema(
        operation_id="v1_sandbox_receivers_receipts_clear",
        responses={200: inline_serializer("SandboxReceiptsCleared", {"deleted": serializers.IntegerField()})},
    )
    def delete(self, request, code: str):
        receiver = _receiver_or_404(request, code)
        if not access_for(request.user).scope.everything:
            # Clearing forgets every plant's receipts, not only the caller's.
            raise PermissionDenied("Clearing a receiver's receipts needs access to every plant and supplier.")
        return Response({"deleted": services.sandbox_receipts_clear(receiver=receiver)})
