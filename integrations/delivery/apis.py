"""`/api/v1/deliveries`, `/api/v1/replays`, `/api/v1/targets`, `/api/v1/subscriptions`: for
operations scripts (personal tokens) as much as for pages. Reading needs the view permission;
retry, replay, pause and resubmit need operate; subscriptions are changed with configure."""

from __future__ import annotations

from datetime import datetime

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.accounts.access import CanConfigure, CanOperate, CanRecover, CanView, IsPerson, access_for
from controltower.accounts.roles import Capability
from controltower.problems import Conflict
from integrations import selectors as intake_selectors
from integrations.delivery import selectors
from integrations.delivery.models import (
    Delivery,
    DeliveryAttempt,
    ReplayItem,
    ReplayJob,
    Subscription,
    Target,
)
from integrations.delivery.services.jobs import PreviewChanged, delivery_retry, replay_cancel, replay_start
from integrations.delivery.services.jobs import replay_preview as preview_count
from integrations.delivery.services.pausing import target_pause, target_resume
from integrations.delivery.services.policy import ERROR_CLASSES
from integrations.delivery.services.resubmission import rejected_resubmit


def _field_error(error: selectors.QueryError, *, nested_in: str = "") -> ValidationError:
    detail = {error.field: [error.detail]}
    return ValidationError({nested_in: detail} if nested_in else detail)


def _query(data, *, nested_in: str = "") -> selectors.DeliveryQuery:
    try:
        return selectors.DeliveryQuery.parse(data)
    except selectors.QueryError as error:
        raise _field_error(error, nested_in=nested_in) from None


class AttemptSerializer(serializers.ModelSerializer):
    started_by = serializers.CharField(source="job.created_by.username", default=None, allow_null=True)

    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "cause",
            "job",
            "started_by",
            "started_at",
            "latency_ms",
            "status_code",
            "error_class",
            "error",
            "response_excerpt",
            "outcome",
        ]


class DeliverySerializer(serializers.ModelSerializer):
    target = serializers.CharField(source="target.code")
    event_id = serializers.CharField(source="event.event_id")
    source = serializers.CharField(source="event.source")
    plant = serializers.CharField(source="plant.code", allow_null=True, default=None)
    supplier = serializers.CharField(source="supplier.code", allow_null=True, default=None)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "target",
            "event",
            "event_id",
            "source",
            "type",
            "plant",
            "supplier",
            "status",
            "idempotency_key",
            "mapping",
            "attempts",
            "attempts_total",
            "created_at",
            "next_attempt_at",
            "delivered_at",
            "dead_lettered_at",
            "dead_letter_reason",
            "last_status_code",
            "error_class",
            "last_error",
            "job",
        ]


class DeliveryDetailSerializer(DeliverySerializer):
    attempts_log = serializers.SerializerMethodField()
    jobs = serializers.SerializerMethodField()

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "attempts_log", "jobs"]

    def get_attempts_log(self, delivery: Delivery) -> list[dict]:
        return AttemptSerializer(selectors.delivery_attempts(delivery=delivery), many=True).data

    def get_jobs(self, delivery: Delivery) -> list[dict]:
        """Lineage: every retry or replay job that included this delivery, with its outcome here."""
        items = ReplayItem.objects.filter(delivery=delivery).select_related("job", "job__created_by")
        return [
            {
                "job": item.job_id,
                "kind": item.job.kind,
                "started_by": item.job.created_by.username,
                "reason": item.job.reason,
                "created_at": item.job.created_at,
                "outcome": item.outcome,
            }
            for item in items.order_by("job_id")
        ]


class NewestFirst(CursorPagination):
    ordering = ("-id",)


class DeliveryListApi(APIView):
    """Deliveries in your scope, newest first. Filters: target, status (pending, retrying, paused,
    delivered, dead_lettered), type, plant, supplier, error_class, since/until (when the event
    was received, ISO 8601)."""

    pagination_class = NewestFirst

    @extend_schema(
        responses=DeliverySerializer(many=True),
        parameters=[
            *(OpenApiParameter(name, str) for name in ("target", "type", "plant", "supplier")),
            OpenApiParameter("status", str, enum=Delivery.Status.values),
            OpenApiParameter("error_class", str, enum=list(ERROR_CLASSES)),
            OpenApiParameter(
                "since", OpenApiTypes.DATETIME, description="Received at or after (with offset)."
            ),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Received before (with offset)."),
        ],
    )
    def get(self, request):
        query = _query(request.query_params)
        deliveries = selectors.deliveries_filtered(
            selectors.deliveries_visible(access=access_for(request.user)), query
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryDetailApi(APIView):
    """One delivery with every attempt and every job (retry, replay) that drove it."""

    @extend_schema(responses=DeliveryDetailSerializer)
    def get(self, request, pk: int):
        delivery = get_object_or_404(selectors.deliveries_visible(access=access_for(request.user)), pk=pk)
        return Response(DeliveryDetailSerializer(delivery).data)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class DeliveryRetryApi(APIView):
    """Retry one delivery in a worker (dead-lettered: a new round; delivered: sent again with the
    same Idempotency-Key). Answers the job."""

    permission_classes = [CanRecover]

    @extend_schema(
        request=ReasonSerializer,
        responses={
            202: inline_serializer(
                "JobStarted", {"id": serializers.IntegerField(), "url": serializers.CharField()}
            )
        },
    )
    def post(self, request, pk: int):
        delivery = get_object_or_404(selectors.deliveries_visible(access=access_for(request.user)), pk=pk)
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = delivery_retry(delivery=delivery, user=request.user, reason=data.validated_data["reason"])
        except selectors.QueryError as error:
            raise Conflict(error.detail) from None
        return Response(_job_started(job), status=202)


def _job_started(job: ReplayJob) -> dict:
    return {"id": job.pk, "url": reverse("api-v1:replay", args=[job.pk]), "total": job.total}


class ReplayRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReplayJob.Kind.choices)
    filter = serializers.DictField(
        help_text="target, type, plant, supplier, error_class, since, until (ISO 8601). A replay needs "
        "target, since and until."
    )
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    dry_run = serializers.BooleanField(default=False)
    as_of = serializers.DateTimeField(required=False, help_text="From a dry run: start exactly that set.")
    expected_count = serializers.IntegerField(required=False, min_value=0, help_text="From a dry run.")


class ReplayJobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username")
    cancelled_by = serializers.CharField(source="cancelled_by.username", allow_null=True, default=None)
    progress = serializers.SerializerMethodField()
    still_failing_items = serializers.SerializerMethodField()

    class Meta:
        model = ReplayJob
        fields = [
            "id",
            "kind",
            "filter",
            "reason",
            "created_by",
            "created_at",
            "state",
            "total",
            "progress",
            "started_at",
            "finished_at",
            "cancelled_by",
            "error",
            "verified_at",
            "still_failing",
            "still_failing_items",
        ]

    def get_progress(self, job: ReplayJob) -> dict[str, int]:
        return selectors.replay_progress(job=job)

    def get_still_failing_items(self, job: ReplayJob) -> list[dict]:
        """After verification: up to 100 items whose delivery is still not delivered."""
        if job.verified_at is None:
            return []
        items = (
            job.items.exclude(outcome=ReplayItem.Outcome.CANCELLED)
            .exclude(verified_status=Delivery.Status.DELIVERED)
            .order_by("delivery_id")[:100]
        )
        return [{"delivery": i.delivery_id, "outcome": i.outcome, "status": i.verified_status} for i in items]


class ReplayListApi(APIView):
    """Retry and replay jobs (GET), or preview / start one (POST; recover permission).

    POST `{"kind": "retry", "filter": {...}, "dry_run": true}` answers the exact count and the
    `as_of` time it was counted at; POST again with `as_of` and `expected_count` (and a
    `reason`) to start a job over exactly that set — 409 if it changed meanwhile."""

    pagination_class = NewestFirst

    def get_permissions(self):
        # Jobs are a person's (who started or cancelled them): a system token cannot list them.
        return [CanRecover() if self.request.method == "POST" else CanView(), IsPerson()]

    @extend_schema(responses=ReplayJobSerializer(many=True))
    def get(self, request):
        jobs = selectors.replay_jobs_visible(access=access_for(request.user), user=request.user)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(ReplayJobSerializer(page, many=True).data)

    @extend_schema(
        request=ReplayRequestSerializer,
        responses={
            200: inline_serializer(
                "ReplayPreview", {"count": serializers.IntegerField(), "as_of": serializers.DateTimeField()}
            ),
            202: inline_serializer(
                "ReplayStarted",
                {
                    "id": serializers.IntegerField(),
                    "url": serializers.CharField(),
                    "total": serializers.IntegerField(),
                },
            ),
        },
    )
    def post(self, request):
        data = ReplayRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        query = _query(values["filter"], nested_in="filter")
        as_of: datetime | None = values.get("as_of")
        try:
            if values["dry_run"]:
                preview = preview_count(
                    kind=values["kind"], query=query, access=access_for(request.user), as_of=as_of
                )
                return Response({"count": preview.count, "as_of": preview.as_of})
            job = replay_start(
                kind=values["kind"],
                query=query,
                reason=values["reason"],
                user=request.user,
                as_of=as_of,
                expected_count=values.get("expected_count"),
            )
        except selectors.QueryError as error:
            raise _field_error(
                error, nested_in="" if error.field in ("reason", "kind") else "filter"
            ) from None
        except PreviewChanged as error:
            raise Conflict(str(error)) from None
        return Response(_job_started(job), status=202)


class ReplayDetailApi(APIView):
    """A job: progress (pending, delivered, failed, cancelled), who, why, verification."""

    permission_classes = [CanView, IsPerson]

    @extend_schema(responses=ReplayJobSerializer)
    def get(self, request, pk: int):
        jobs = selectors.replay_jobs_visible(access=access_for(request.user), user=request.user)
        return Response(ReplayJobSerializer(get_object_or_404(jobs, pk=pk)).data)


class ReplayCancelApi(APIView):
    """Stop a job: items not yet handed to workers are cancelled; those in flight finish."""

    permission_classes = [CanRecover, IsPerson]

    @extend_schema(request=None, responses=ReplayJobSerializer)
    def post(self, request, pk: int):
        jobs = selectors.replay_jobs_visible(access=access_for(request.user), user=request.user)
        job = get_object_or_404(jobs, pk=pk)
        if not replay_cancel(job=job, user=request.user):
            raise Conflict(f"The job is {job.state}; there is nothing to cancel.")
        return Response(ReplayJobSerializer(job).data)


class TargetSerializer(serializers.ModelSerializer):
    system = serializers.CharField(source="system.code", allow_null=True, default=None)
    paused_by = serializers.CharField(source="paused_by.username", allow_null=True, default=None)

    class Meta:
        model = Target
        # Never the secret.
        fields = [
            "code",
            "name",
            "system",
            "url",
            "sandbox",
            "active",
            "auth",
            "timeout_seconds",
            "max_attempts",
            "backoff_seconds",
            "backoff_max_seconds",
            "max_age_minutes",
            "rate_per_second",
            "circuit_threshold",
            "circuit_probe_seconds",
            "paused",
            "paused_reason",
            "paused_by",
            "paused_at",
            "circuit",
            "circuit_opened_at",
            "consecutive_failures",
        ]


class TargetListApi(APIView):
    """Delivery targets with their policy and live state (paused, circuit)."""

    @extend_schema(responses=TargetSerializer(many=True))
    def get(self, request):
        return Response(TargetSerializer(selectors.targets_all(), many=True).data)


class TargetPauseApi(APIView):
    """Pause a target (deliveries wait) — or, at `/resume`, resume it (they drain in order)."""

    permission_classes = [CanOperate]
    action = "pause"

    @extend_schema(request=ReasonSerializer, responses=TargetSerializer)
    def post(self, request, code: str):
        target = get_object_or_404(Target, code=code)
        if self.action == "pause":
            data = ReasonSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            if not data.validated_data["reason"].strip():
                raise ValidationError({"reason": ["Say why (a maintenance window, say)."]})
            changed = target_pause(target=target, user=request.user, reason=data.validated_data["reason"])
        else:
            changed = target_resume(target=target, user=request.user)
        if not changed:
            raise Conflict(f"{target.code} is {'paused' if target.paused else 'running'} already.")
        return Response(TargetSerializer(target).data)


class SubscriptionSerializer(serializers.ModelSerializer):
    target = serializers.SlugRelatedField(slug_field="code", queryset=Target.objects.all())
    plants = serializers.SlugRelatedField(
        slug_field="code", many=True, required=False, queryset=Target.objects.none()
    )
    suppliers = serializers.SlugRelatedField(
        slug_field="code", many=True, required=False, queryset=Target.objects.none()
    )

    class Meta:
        model = Subscription
        fields = ["id", "name", "target", "event_types", "plants", "suppliers", "mapping", "active"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from controltower.masterdata.models import Plant, Supplier

        self.fields["plants"].child_relation.queryset = Plant.objects.all()
        self.fields["suppliers"].child_relation.queryset = Supplier.objects.all()

    def validate_event_types(self, value):
        from integrations.contracts import contract_types

        known = set(contract_types())
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise serializers.ValidationError("A non-empty list of contract types.")
        unknown = sorted(set(value) - known)
        if unknown:
            raise serializers.ValidationError(f"Unknown contract type(s): {', '.join(unknown)}.")
        return value


class SubscriptionViewSet(viewsets.ModelViewSet):
    """Which targets receive which events. Reading needs view; changing needs configure."""

    serializer_class = SubscriptionSerializer
    queryset = Subscription.objects.select_related("target").prefetch_related("plants", "suppliers")
    pagination_class = None

    def get_permissions(self):
        return [CanView()] if self.request.method in ("GET", "HEAD", "OPTIONS") else [CanConfigure()]


class ResubmitSerializer(serializers.Serializer):
    body = serializers.CharField(help_text="The corrected CloudEvent (structured JSON), as text.")
    reason = serializers.CharField(max_length=500)


class RejectedResubmitApi(APIView):
    """Fix and resubmit a refused message: intake runs in a worker, as the original sender;
    the resubmission links the original and what it became."""

    permission_classes = [CanRecover]

    @extend_schema(
        request=ResubmitSerializer,
        responses={202: inline_serializer("ResubmissionQueued", {"id": serializers.IntegerField()})},
    )
    def post(self, request, pk: int):
        access = access_for(request.user)
        rejected = get_object_or_404(intake_selectors.rejected_messages_visible(access=access), pk=pk)
        if not access.can(Capability.VIEW_PAYLOADS):
            raise PermissionDenied("Resubmitting shows and changes the payload: it needs view_payloads too.")
        data = ResubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            resubmission = rejected_resubmit(rejected=rejected, user=request.user, **data.validated_data)
        except selectors.QueryError as error:
            raise _field_error(error) from None
        return Response({"id": resubmission.pk}, status=202)
