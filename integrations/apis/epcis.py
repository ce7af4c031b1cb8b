"""`/api/v1/epcis/capture`: GS1 EPCIS 2.0 capture, as the standard's REST binding describes it.

`POST` a document (JSON or JSON-LD): each EPCIS event is mapped (see
`integrations.adapters.epcis`) to a canonical business event or kept as integration telemetry,
and stored through the same intake as CloudEvents (same idempotency: the EPCIS eventID, or a
hash of the event). The answer is `202` with the `Location` of the capture job;
`GET /capture/{captureID}` reads the job (`running`, `success`, `errors`). A document with an
invalid event is refused whole (nothing stored) unless the client sends
`GS1-Capture-Error-Behaviour: proceed`: with `400` when it is captured within the request, in
the job's `errors` when a worker captures it (documents over EPCIS_CAPTURE_INLINE_EVENTS). Every answer carries `GS1-EPCIS-Version` and
`GS1-CBV-Version`; a client asking for other versions gets `406`.
"""

from __future__ import annotations

import operator
import re

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.accounts.access import CanView, access_for
from controltower.api import filtered_page
from controltower.problems import PROBLEM_CONTENT_TYPE, problem_body
from integrations import selectors
from integrations.adapters.epcis.documents import document_event_list, event_list_pointer
from integrations.apis.body import BodyProblem, media_type, parse_json, read_body, request_headers
from integrations.apis.events import refuse
from integrations.apis.pagination import NewestFirst
from integrations.apis.permissions import IsSourceSystem
from integrations.models import CaptureJob
from integrations.services.capture import ROLLBACK, CaptureRefused, epcis_capture
from integrations.services.intake import RequestRecord
from integrations.throttling import SystemTokenRateThrottle

EPCIS_MEDIA_TYPES = {"application/json", "application/ld+json"}
#: The versions this server speaks, answered on every response (EPCIS 2.0 section 12).
EPCIS_VERSION = CBV_VERSION = "2.0"
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")
BEHAVIOUR_HEADER = "GS1-Capture-Error-Behaviour"


def _version(text: str) -> tuple[int, int] | None:
    match = _VERSION.match(text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


#: Request header suffix -> how the client's version must compare with ours to be met.
_VERSION_TESTS = {"Version": operator.eq, "Min": operator.le, "Max": operator.ge}


def version_problem(headers) -> str | None:
    """Why the client's GS1-EPCIS-*/GS1-CBV-* request headers exclude the 2.0 we speak, or None."""
    for standard, ours in (("EPCIS", EPCIS_VERSION), ("CBV", CBV_VERSION)):
        for suffix, meets in _VERSION_TESTS.items():
            name = f"GS1-{standard}-{suffix}"
            value = headers.get(name)
            if value is None:
                continue
            asked = _version(value)
            if asked is None:
                return f"Header {name} must be a version such as {ours}, not {value!r}."
            if not meets(asked, _version(ours)):
                return f"Header {name}: {value} cannot be met; this server speaks {standard} {ours} only."
    return None


class CaptureJobSerializer(serializers.ModelSerializer):
    """The REST binding's CaptureJob, plus the per-event results the control tower adds."""

    captureID = serializers.UUIDField(source="capture_id")  # noqa: N815 — the standard's field names
    createdAt = serializers.DateTimeField(source="created_at")  # noqa: N815
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)  # noqa: N815
    running = serializers.BooleanField()
    success = serializers.BooleanField()
    captureErrorBehaviour = serializers.CharField(source="error_behaviour")  # noqa: N815
    errors = serializers.ListField(
        child=serializers.DictField(), help_text="RFC 9457 problems, one per refused event."
    )
    accepted = serializers.IntegerField(source="counts.accepted")
    duplicate = serializers.IntegerField(source="counts.duplicate")
    rejected = serializers.IntegerField(source="counts.rejected")
    results = serializers.ListField(child=serializers.DictField(), help_text="One result per EPCIS event.")

    class Meta:
        model = CaptureJob
        fields = [
            "captureID",
            "createdAt",
            "finishedAt",
            "running",
            "success",
            "captureErrorBehaviour",
            "errors",
            "accepted",
            "duplicate",
            "rejected",
            "results",
        ]


_VERSION_HEADERS = [
    OpenApiParameter(
        name, str, OpenApiParameter.HEADER, description=f"{name}: the client's; this server speaks 2.0."
    )
    for name in ("GS1-EPCIS-Version", "GS1-CBV-Version", "GS1-EPCIS-Min", "GS1-EPCIS-Max")
] + [
    OpenApiParameter(name, str, OpenApiParameter.HEADER, response=True, description="2.0, on every answer.")
    for name in ("GS1-EPCIS-Version", "GS1-CBV-Version")
]
_LOCATION = OpenApiParameter(
    "Location", str, OpenApiParameter.HEADER, response=[202], description="The capture job's URL."
)


class CaptureJobPageSerializer(serializers.Serializer):
    """One page of capture jobs, newest first (cursor pagination)."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CaptureJobSerializer(many=True)


def _problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(OpenApiTypes.OBJECT, description=description)


class _EpcisApi(APIView):
    """Both capture endpoints: version headers checked on the way in, stated on the way out."""

    throttle_classes = [SystemTokenRateThrottle]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.version_refusal = version_problem(request.headers)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["GS1-EPCIS-Version"] = EPCIS_VERSION
        response["GS1-CBV-Version"] = CBV_VERSION
        return response

    def not_acceptable(self, request) -> Response:
        body = problem_body(
            slug="not-acceptable", status=406, detail=self.version_refusal, instance=request.path
        )
        return Response(body, status=406, content_type=PROBLEM_CONTENT_TYPE)


class EpcisCaptureApi(_EpcisApi):
    """POST: capture an EPCIS 2.0 document. GET: the capture jobs the caller may see."""

    parser_classes: list = []  # the raw bytes are read (and kept) by the view itself

    def get_permissions(self):
        return [IsSourceSystem()] if self.request.method == "POST" else [CanView()]

    @extend_schema(
        operation_id="epcis_capture_jobs_list",
        parameters=_VERSION_HEADERS,
        description="The capture jobs you may see: a system its own, people those of their plants and suppliers.",
        responses={
            (200, "application/json"): CaptureJobPageSerializer,
            (406, PROBLEM_CONTENT_TYPE): _problem("Version headers other than 2.0."),
        },
    )
    def get(self, request):
        if self.version_refusal:
            return self.not_acceptable(request)
        return filtered_page(
            request=request,
            view=self,
            queryset=selectors.capture_jobs_visible(access=access_for(request.user)),
            serializer_class=CaptureJobSerializer,
            pagination_class=NewestFirst,
        )

    def options(self, request, *args, **kwargs):
        """Discovery (REST binding): limits and the default error behaviour, as headers."""
        response = super().options(request, *args, **kwargs)
        response["GS1-EPCIS-Min"] = response["GS1-EPCIS-Max"] = EPCIS_VERSION
        response["GS1-CBV-Min"] = response["GS1-CBV-Max"] = CBV_VERSION
        response["GS1-EPCIS-Capture-Limit"] = str(settings.INTAKE_MAX_BATCH_EVENTS)
        response["GS1-EPCIS-Capture-File-Size-Limit"] = str(settings.INTAKE_MAX_BODY_BYTES)
        response[BEHAVIOUR_HEADER] = ROLLBACK
        return response

    @extend_schema(
        request={"application/ld+json": OpenApiTypes.OBJECT, "application/json": OpenApiTypes.OBJECT},
        parameters=[
            *_VERSION_HEADERS,
            _LOCATION,
            OpenApiParameter(
                BEHAVIOUR_HEADER,
                str,
                OpenApiParameter.HEADER,
                enum=["rollback", "proceed"],
                description="rollback (default): all events or none; proceed: store the valid events.",
            ),
        ],
        responses={
            (202, "application/json"): OpenApiResponse(
                CaptureJobSerializer,
                description="Accepted; `Location` names the capture job (finished, or running for a large document).",
            ),
            (400, PROBLEM_CONTENT_TYPE): _problem("Invalid document or event (rollback): nothing stored."),
            (403, PROBLEM_CONTENT_TYPE): _problem("An event names a plant the system does not serve."),
            (406, PROBLEM_CONTENT_TYPE): _problem("GS1-EPCIS-/GS1-CBV- version headers other than 2.0."),
            (413, PROBLEM_CONTENT_TYPE): _problem("More events or bytes than the capture limits."),
            (415, PROBLEM_CONTENT_TYPE): _problem("Not JSON or JSON-LD."),
        },
        description=(
            "ObjectEvents and AggregationEvents with bizStep shipping, departing, arriving and receiving become "
            "shipment.dispatched, shipment.milestone and goods.received, with bizTransactionList purchase orders "
            "and despatch advices as identifiers; other events are kept as integration.telemetry. Documents are "
            "checked against the EPCIS 2.0 structure and the CBV; bare and URN CBV values are understood, "
            "non-standard values are refused with the reason. An event naming another plant (destination, "
            "readPoint, bizLocation) than the posting system's is refused. An error in the canonical event an "
            "EPCIS event maps to is reported under that event's pointer, e.g. "
            "`/epcisBody/eventList/0/data/plant`. An EPCISQueryDocument (a query's or subscription's results) "
            "is captured like an EPCISDocument: its events are those of `epcisBody.queryResults.resultsBody`. "
            "A document of up to EPCIS_CAPTURE_INLINE_EVENTS events is "
            "captured before the answer (the job is finished, a refused document is a 400); a larger one by a "
            "worker (the job is `running`; poll `Location`; a refusal shows as `success: false` with its errors)."
        ),
    )
    def post(self, request):
        system = request.user.system
        try:
            body = read_body(request)
            if self.version_refusal:
                raise BodyProblem(status=406, slug="not-acceptable", body=body, detail=self.version_refusal)
            behaviour = (request.headers.get(BEHAVIOUR_HEADER) or ROLLBACK).strip().lower()
            if behaviour not in CaptureJob.ErrorBehaviour.values:
                detail = f"Header {BEHAVIOUR_HEADER} must be rollback or proceed, not {behaviour!r}."
                raise BodyProblem(status=400, slug="validation-error", body=body, detail=detail)
            if media_type(request) not in EPCIS_MEDIA_TYPES:
                raise BodyProblem(
                    status=415,
                    slug="unsupported-media-type",
                    body=body,
                    detail="Send the EPCIS document as application/ld+json or application/json.",
                )
            document = parse_json(body)
            _check_capture_limit(document, body)
            record = RequestRecord(
                request.path, request.META.get("CONTENT_TYPE", ""), request_headers(request), body
            )
            job = epcis_capture(
                system=system, document=document, behaviour=behaviour, request=record, instance=request.path
            )
        except BodyProblem as problem:
            return refuse(request, problem, system=system)
        except CaptureRefused as refused:
            return refuse(
                request,
                _as_problem(refused, body),
                system=system,
                plant_id=refused.plant_id,
                supplier_id=refused.supplier_id,
            )
        location = request.build_absolute_uri(reverse("api-v1:epcis-capture-job", args=[job.capture_id]))
        return Response(CaptureJobSerializer(job).data, status=202, headers={"Location": location})


def _check_capture_limit(document, body: bytes) -> None:
    """GS1-EPCIS-Capture-Limit: at most INTAKE_MAX_BATCH_EVENTS events, like a CloudEvents batch."""
    events = document_event_list(document)
    limit = settings.INTAKE_MAX_BATCH_EVENTS
    if isinstance(events, list) and len(events) > limit:
        raise BodyProblem(
            status=413,
            slug="payload-too-large",
            body=body,
            pointer=event_list_pointer(document),
            detail=f"The document has {len(events)} events; at most {limit} per capture (GS1-EPCIS-Capture-Limit).",
        )


def _as_problem(refused: CaptureRefused, body: bytes) -> BodyProblem:
    status = 403 if refused.forbidden else 400
    detail = refused.detail or (
        f"The document was refused and nothing of it stored ({len(refused.errors)} error(s)); "
        f"send {BEHAVIOUR_HEADER}: proceed to store its valid events."
    )
    problem = BodyProblem(
        status=status, slug="forbidden" if refused.forbidden else "validation-error", body=body, detail=detail
    )
    problem.errors = refused.errors
    return problem


class EpcisCaptureJobApi(_EpcisApi):
    """GET one capture job: the posting system, and people whose scope holds its plant or supplier."""

    permission_classes = [CanView]

    @extend_schema(
        operation_id="epcis_capture_job_retrieve",
        parameters=_VERSION_HEADERS,
        responses={
            (200, "application/json"): CaptureJobSerializer,
            (404, PROBLEM_CONTENT_TYPE): _problem("No such job in your scope."),
            (406, PROBLEM_CONTENT_TYPE): _problem("Version headers other than 2.0."),
        },
    )
    def get(self, request, capture_id):
        if self.version_refusal:
            return self.not_acceptable(request)
        job = get_object_or_404(
            selectors.capture_jobs_visible(access=access_for(request.user)), capture_id=capture_id
        )
        response = Response(CaptureJobSerializer(job).data)
        response[BEHAVIOUR_HEADER] = job.error_behaviour
        return response
