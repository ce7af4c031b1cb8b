"""What the OpenAPI schema says intake accepts and answers (`/api/v1/events`, EPCIS capture).

Kept apart from the views: it only describes them. It must describe exactly what they do —
the fuzz in tests/controltower/test_openapi_fuzz.py holds every answer to it.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from integrations.apis.serializers import IntakeBatchSerializer, IntakeResultSerializer

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
# Binary mode: the body is the event's data (contracts carry JSON), its attributes ce-* headers.
BINARY = "application/json"

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
    202: OpenApiResponse(
        IntakeResultSerializer, description="Single event (structured or binary): accepted or duplicate."
    ),
    200: OpenApiResponse(
        IntakeBatchSerializer,
        description=(
            "Batch: answered per event, in order. Each event is stored or refused on its own: "
            "good events are stored even when others are rejected (each rejected one kept as a "
            "rejected message with all its errors). 200 means the batch was read, not that "
            "every event was accepted: check `rejected` and each result's `status`."
        ),
    ),
    413: OpenApiResponse(description="Body over INTAKE_MAX_BODY_BYTES, or too many events in a batch."),
    415: OpenApiResponse(
        description=f"Not {STRUCTURED}, not {BATCH}, and not binary mode (no ce-specversion header)."
    ),
}
