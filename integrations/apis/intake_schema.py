"""What the OpenAPI schema says intake accepts and answers (`/api/v1/events`, EPCIS capture).

Kept apart from the views: it only describes them. It must describe exactly what they do —
the fuzz in tests/controltower/test_openapi_fuzz.py holds every answer to it.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
# Binary mode: the body is the event's data (contracts carry JSON), its attributes ce-* headers.
BINARY = "application/json"

OUTCOME = inline_serializer(
    "IntakeOutcome",
    {
        "status": serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"]),
        "source": serializers.CharField(allow_null=True),
        "id": serializers.CharField(allow_null=True),
        "index": serializers.IntegerField(required=False, help_text="Position in the batch or document."),
        "event": serializers.IntegerField(required=False, help_text="The stored event."),
        "errors": serializers.ListField(
            child=serializers.DictField(child=serializers.CharField()),
            required=False,
            help_text="Each failing field: `pointer` (JSON pointer) and `detail`.",
        ),
        "rejected_message": serializers.IntegerField(required=False, help_text="Where it is kept."),
    },
)
OUTCOMES = inline_serializer(
    "IntakeResults",
    {
        "accepted": serializers.IntegerField(),
        "duplicate": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "results": OUTCOME.__class__(many=True),
    },
)

EVENTS_REQUEST = {
    STRUCTURED: OpenApiTypes.OBJECT,
    # Each item is answered in its own result: anything but a CloudEvent object is refused there.
    BATCH: {"type": "array", "items": {"description": "A CloudEvent in structured form."}},
    BINARY: OpenApiTypes.OBJECT,
}


def _binary_header(name: str, meaning: str) -> OpenApiParameter:
    return OpenApiParameter(
        f"ce-{name}",
        str,
        OpenApiParameter.HEADER,
        required=False,
        description=f"Binary mode (a `{BINARY}` body): {meaning}. Not used in structured or batch mode.",
    )


BINARY_HEADERS = [
    _binary_header("specversion", "required, `1.0`"),
    _binary_header("id", "required, the event id"),
    _binary_header("source", "required, the event source"),
    _binary_header("type", "required, the contract type"),
    _binary_header("time", "the business time (RFC 3339)"),
    _binary_header("dataschema", "the contract version URI"),
]

EVENTS_RESPONSES = {
    202: OpenApiResponse(OUTCOME, description="Single event: `accepted` or `duplicate`."),
    200: OpenApiResponse(
        OUTCOMES, description="Batch: one result per event (accepted, duplicate, rejected)."
    ),
    413: OpenApiResponse(description="Body over INTAKE_MAX_BODY_BYTES, or too many events in a batch."),
    415: OpenApiResponse(
        description=f"Not {STRUCTURED}, not {BATCH}, and not binary mode (no ce-specversion header)."
    ),
}

EPCIS_REQUEST = {"application/ld+json": OpenApiTypes.OBJECT, "application/json": OpenApiTypes.OBJECT}
EPCIS_RESPONSES = {
    200: OpenApiResponse(
        OUTCOMES, description="One result per EPCIS event: accepted, duplicate or rejected."
    ),
    413: OpenApiResponse(description="Body over INTAKE_MAX_BODY_BYTES."),
    415: OpenApiResponse(description="Not application/ld+json or application/json."),
}
