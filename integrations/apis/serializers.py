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
            "received_at",
            "mode",
            "system",
            "plant",
            "supplier",
            "identifiers",
        ]


class EventDetailSerializer(EventSerializer):
    cloudevent = serializers.SerializerMethodField()

    class Meta(EventSerializer.Meta):
        fields = [*EventSerializer.Meta.fields, "cloudevent"]

    def get_cloudevent(self, event: Event) -> dict:
        return event.as_cloudevent()


class SystemSerializer(serializers.ModelSerializer):
    plant = serializers.SlugRelatedField(slug_field="code", read_only=True)
    supplier = serializers.SlugRelatedField(slug_field="code", read_only=True)
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


class RejectedMessageSerializer(serializers.ModelSerializer):
    system = serializers.CharField(source="system.code", allow_null=True, default=None)
    body = serializers.CharField(source="body_text")

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
