"""`/api/v1/traces`: traces within the caller's scope, found by filters or by identifier."""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.accounts.access import access_for
from controltower.api import UtcDateTimeFilter, filtered_page
from controltower.traces import selectors
from controltower.traces.models import CORRELATING_KINDS, Trace, TraceMilestone
from integrations.models import Event, RejectedMessage

TRACE_EVENTS_LIMIT = 500


def validate_identifier(value: str) -> None:
    from django.core.exceptions import ValidationError

    kind, sep, ident = value.partition(":")
    if not sep or kind not in CORRELATING_KINDS or not ident.strip():
        raise ValidationError(f"Use KIND:VALUE with KIND one of {', '.join(CORRELATING_KINDS)}.")


class TraceFilter(django_filters.FilterSet):
    flow = django_filters.ChoiceFilter(choices=Trace.Flow.choices)
    state = django_filters.ChoiceFilter(choices=Trace.State.choices)
    plant = django_filters.CharFilter(field_name="plant__code")
    supplier = django_filters.CharFilter(field_name="supplier__code")
    identifier = django_filters.CharFilter(
        method="by_identifier", validators=[validate_identifier], help_text="KIND:VALUE"
    )
    active_after = UtcDateTimeFilter(field_name="last_event_at", lookup_expr="gte")
    active_before = UtcDateTimeFilter(field_name="last_event_at", lookup_expr="lt")
    started_after = UtcDateTimeFilter(field_name="first_event_at", lookup_expr="gte")
    started_before = UtcDateTimeFilter(field_name="first_event_at", lookup_expr="lt")

    class Meta:
        model = Trace
        fields: list[str] = []

    def by_identifier(self, queryset, name, value):
        kind, _, ident = value.partition(":")
        access = access_for(self.request.user)
        return queryset.filter(
            pk__in=selectors.traces_for_identifier(kind=kind, value=ident, access=access).values("pk")
        )


class TraceSerializer(serializers.ModelSerializer):
    root = serializers.SerializerMethodField()
    plant = serializers.CharField(source="plant.code", allow_null=True, default=None)
    supplier = serializers.CharField(source="supplier.code", allow_null=True, default=None)

    state_reason = serializers.JSONField(
        read_only=True,
        help_text="Why the state is what it is: cause, milestone, due, at (UTC), detail; quality: the "
        "trace's quality holds.",
    )

    class Meta:
        model = Trace
        fields = [
            "id",
            "flow",
            "state",
            "state_reason",
            "next_due_at",
            "root",
            "plant",
            "supplier",
            "first_event_at",
            "last_event_at",
            "event_count",
        ]

    def get_root(self, trace: Trace) -> dict[str, str]:
        return {"kind": trace.root.kind, "key": trace.root.key}


class TraceEventSerializer(serializers.Serializer):
    pk = serializers.IntegerField(source="id")
    id = serializers.CharField(source="event_id")
    type = serializers.CharField()
    source = serializers.CharField()
    system = serializers.CharField(source="system.code")
    time = serializers.DateTimeField(source="event_time", allow_null=True)
    time_basis = serializers.CharField(
        help_text="event: the CloudEvents time; data: the contract's time field; receipt: time of receipt."
    )
    received_at = serializers.DateTimeField()
    lag_seconds = serializers.SerializerMethodField()

    def get_lag_seconds(self, event) -> float | None:
        """Sync lag of this hop: from the business time to our receipt of it (none when the
        business time is the receipt time)."""
        if event.event_time is None or event.time_basis == Event.TimeBasis.RECEIPT:
            return None
        return round((event.received_at - event.event_time).total_seconds(), 3)


class TraceMilestoneSerializer(serializers.ModelSerializer):
    event = serializers.IntegerField(source="event_id", allow_null=True)

    class Meta:
        model = TraceMilestone
        fields = ["code", "state", "expected_by", "done_at", "event"]


class MessageHopsSerializer(serializers.Serializer):
    message_id = serializers.CharField()
    carried_event = serializers.IntegerField(source="carried.pk", allow_null=True, default=None)
    outcome = serializers.CharField()
    failures = serializers.IntegerField()
    hops = serializers.SerializerMethodField()

    def get_hops(self, message: selectors.MessageHops) -> list[dict]:
        keep = ("hop", "status", "occurred_at", "latency_ms", "retry_count", "error")
        return [{name: hop.data.get(name) for name in keep if name in hop.data} for hop in message.hops]


class TraceRejectedSerializer(serializers.ModelSerializer):
    system = serializers.CharField(source="system.code", allow_null=True, default=None)

    class Meta:
        model = RejectedMessage
        fields = ["id", "received_at", "system", "type", "problem_type", "errors"]


class TraceDetailSerializer(TraceSerializer):
    """Needs `access` in its context (rejected messages are scoped by the caller)."""

    objects = serializers.SerializerMethodField()
    milestones = TraceMilestoneSerializer(many=True)
    events_total = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()
    hops = serializers.SerializerMethodField()
    rejected_messages = serializers.SerializerMethodField()

    class Meta(TraceSerializer.Meta):
        fields = [
            *TraceSerializer.Meta.fields,
            "objects",
            "milestones",
            "events_total",
            "events",
            "hops",
            "rejected_messages",
        ]

    def _object_keys(self, trace: Trace) -> list[tuple[str, str]]:
        """The trace's objects, read once for the object list and the refused-message match."""
        if not hasattr(self, "_keys_by_trace"):
            self._keys_by_trace: dict[int, list[tuple[str, str]]] = {}
        if trace.pk not in self._keys_by_trace:
            self._keys_by_trace[trace.pk] = selectors.trace_object_keys(trace=trace)
        return self._keys_by_trace[trace.pk]

    def get_objects(self, trace: Trace) -> dict[str, list[str]]:
        return selectors.trace_objects(trace=trace, object_keys=self._object_keys(trace))

    def get_events_total(self, trace: Trace) -> int:
        return selectors.trace_events(trace=trace).count()

    @extend_schema_field(TraceEventSerializer(many=True))
    def get_events(self, trace: Trace) -> list[dict]:
        events = selectors.trace_events(trace=trace)[:TRACE_EVENTS_LIMIT]
        return TraceEventSerializer(events, many=True).data

    @extend_schema_field(MessageHopsSerializer(many=True))
    def get_hops(self, trace: Trace) -> list[dict]:
        return MessageHopsSerializer(selectors.trace_hops(trace=trace), many=True).data

    @extend_schema_field(TraceRejectedSerializer(many=True))
    def get_rejected_messages(self, trace: Trace) -> list[dict]:
        rejected = selectors.trace_rejected_messages(
            trace=trace, access=self.context["access"], object_keys=self._object_keys(trace)
        )
        return TraceRejectedSerializer(rejected, many=True).data


class MostRecentlyActive(CursorPagination):
    ordering = ("-last_event_at", "-id")


class TraceListApi(APIView):
    """Traces you may see, most recently active first; `identifier=KIND:VALUE` finds by identifier."""

    filterset_class = TraceFilter
    pagination_class = MostRecentlyActive

    @extend_schema(responses=TraceSerializer(many=True), filters=True)
    def get(self, request):
        return filtered_page(
            request=request,
            view=self,
            queryset=selectors.traces_visible(access=access_for(request.user)),
            serializer_class=TraceSerializer,
        )


class TraceDetailApi(APIView):
    """One trace: its objects (POs, lines, shipments, receipts), milestones, events in business
    order (the first 500 of `events_total`) each with its sync lag, the middleware's hops by
    message, and refused messages that name its objects."""

    @extend_schema(responses=TraceDetailSerializer)
    def get(self, request, pk: int):
        access = access_for(request.user)
        trace = get_object_or_404(selectors.traces_visible(access=access), pk=pk)
        return Response(TraceDetailSerializer(trace, context={"access": access}).data)
