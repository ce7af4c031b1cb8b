"""Output shapes of the integrations APIs."""

from __future__ import annotations

from rest_framework import serializers

from integrations.models import Event, RejectedMessage, SourceSystem


class IdentifierSerializer(serializers.Serializer):
    kind = serializers.CharField()
    value = serializers.CharField()


class EventSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="event_id")
    pk = serializers.IntegerField(source="id")
    system = serializers.CharField(source="system.code")
    plant = serializers.CharField(source="plant.code", allow_null=True, default=None)
    supplier = serializers.CharField(source="supplier.code", allow_null=True, default=None)
    time = serializers.DateTimeField(source="event_time", allow_null=True)
    identifiers = IdentifierSerializer(many=True)

    class Meta:
        model = Event
        fields = [
            "pk",
            "source",
            "id",
            "type",
            "version",
            "subject",
            "time",
            "time_basis",
            "received_at",
            "mode",
            "system",
            "plant",
            "supplier",
            "identifiers",
        ]


def payloads_visible(serializer: serializers.BaseSerializer) -> bool:
    """Whether the caller may read payloads (the view puts `payloads` in the context; absent
    means no: a serializer used without saying so shows no payload)."""
    return bool(serializer.context.get("payloads"))


class EventDetailSerializer(EventSerializer):
    cloudevent = serializers.SerializerMethodField(
        help_text="The CloudEvent as stored; `data` only for callers with the view_payloads permission."
    )
    payload_hidden = serializers.SerializerMethodField()

    class Meta(EventSerializer.Meta):
        fields = [*EventSerializer.Meta.fields, "cloudevent", "payload_hidden"]

    def get_cloudevent(self, event: Event) -> dict:
        if payloads_visible(self):
            return event.as_cloudevent()
        return dict(event.attributes)

    def get_payload_hidden(self, event: Event) -> bool:
        return not payloads_visible(self)


class SystemSerializer(serializers.ModelSerializer):
    plant = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    supplier = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    sources = serializers.SlugRelatedField(slug_field="source", many=True, read_only=True)

    class Meta:
        model = SourceSystem
        fields = [
            "code",
            "name",
            "kind",
            "plant",
            "supplier",
            "owner_team",
            "criticality",
            "active",
            "sources",
        ]


class IntakeErrorSerializer(serializers.Serializer):
    pointer = serializers.CharField(
        help_text="RFC 6901 pointer into the request body (a batch's: /<index>/…)."
    )
    detail = serializers.CharField()


class IntakeResultSerializer(serializers.Serializer):
    """What became of one event offered for intake (a single event, or one of a batch)."""

    status = serializers.ChoiceField(
        choices=["accepted", "duplicate", "rejected"],
        help_text="accepted: stored now; duplicate: stored before (same source + id); rejected: refused.",
    )
    source = serializers.CharField()
    id = serializers.CharField()
    index = serializers.IntegerField(required=False, help_text="Position in the batch (batches only).")
    event = serializers.IntegerField(required=False, help_text="The stored event (accepted or duplicate).")
    errors = IntakeErrorSerializer(many=True, required=False, help_text="Every error of a rejected event.")
    rejected_message = serializers.IntegerField(
        required=False, help_text="The rejected message that keeps a refused event as it arrived."
    )


class IntakeBatchSerializer(serializers.Serializer):
    """A batch's answer: one result per event, in the batch's order; counts by status."""

    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = IntakeResultSerializer(many=True)


class RejectedMessageSerializer(serializers.ModelSerializer):
    system = serializers.CharField(source="system.code", allow_null=True, default=None)
    body = serializers.SerializerMethodField(
        help_text="Exactly what was received; null without the view_payloads permission."
    )

    def get_body(self, rejected: RejectedMessage) -> str | None:
        return rejected.body_text if payloads_visible(self) else None

    class Meta:
        model = RejectedMessage
        fields = [
            "id",
            "received_at",
            "system",
            "endpoint",
            "content_type",
            "status_code",
            "problem_type",
            "errors",
            "batch_index",
            "source",
            "event_id",
            "type",
            "headers",
            "body",
            "body_truncated",
        ]
