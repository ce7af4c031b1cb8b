"""`/api/v1/events`: source systems POST CloudEvents; people and systems read them back."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.accounts.access import CanView, access_for
from controltower.accounts.roles import Capability
from controltower.api import filtered_page
from controltower.json_values import error_dicts, printable
from controltower.problems import PROBLEM_CONTENT_TYPE, problem_body
from integrations import selectors
from integrations.adapters.cloudevents import parse_batch, parse_binary, parse_structured
from integrations.apis import intake_schema
from integrations.apis.body import BodyProblem, decode_body, media_type, read_body, request_headers
from integrations.apis.filters import EventFilter
from integrations.apis.intake_schema import BATCH, STRUCTURED
from integrations.apis.pagination import NewestFirst
from integrations.apis.permissions import IsSourceSystem
from integrations.apis.serializers import (
    EventDetailSerializer,
    EventSerializer,
)
from integrations.contracts import contracts_all
from integrations.models import Event
from integrations.services.intake import REJECTED, Candidate, RequestRecord, events_ingest
from integrations.services.rejections import rejected_message_record
from integrations.throttling import SystemTokenRateThrottle


def refuse(
    request, problem: BodyProblem, *, system, plant_id: int | None = None, supplier_id: int | None = None
) -> Response:
    """Answer a request that could not be read, keeping what it sent (under `plant_id` and
    `supplier_id` when known, else under the system's own)."""
    rejected = rejected_message_record(
        system=system,
        endpoint=request.path,
        content_type=request.META.get("CONTENT_TYPE", ""),
        headers=request_headers(request),
        body=problem.body,
        status_code=problem.status,
        problem_type=problem.slug,
        errors=problem.errors,
        plant_id=plant_id,
        supplier_id=supplier_id,
    )
    body = problem_body(
        slug=problem.slug,
        status=problem.status,
        detail=printable(problem.detail),  # it may quote what arrived
        instance=request.path,
        errors=error_dicts(problem.errors),
        rejected_message=rejected.pk,
    )
    return Response(body, status=problem.status, content_type=PROBLEM_CONTENT_TYPE)


def answer_single(request, outcome) -> Response:
    if outcome.status != REJECTED:
        return Response(outcome.as_dict(), status=202)
    status = 403 if outcome.forbidden else 400
    body = problem_body(
        slug="forbidden" if outcome.forbidden else "validation-error",
        status=status,
        detail=f"The event was refused ({len(outcome.errors)} error(s)); it is kept as rejected message {outcome.rejected_pk}.",
        instance=request.path,
        errors=outcome.as_dict()["errors"],
        rejected_message=outcome.rejected_pk,
        source=outcome.source,
        id=outcome.id,
    )
    return Response(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def answer_many(outcomes) -> Response:
    counts = {status: 0 for status in ("accepted", "duplicate", "rejected")}
    for outcome in outcomes:
        counts[outcome.status] += 1
    return Response({**counts, "results": [o.as_dict() for o in outcomes]}, status=200)


def _examples() -> list[OpenApiExample]:
    return [
        OpenApiExample(
            contract.type,
            request_only=True,
            media_type=STRUCTURED,
            value={
                "specversion": "1.0",
                "id": "evt-0001",
                "source": "ERP-CLOUD",
                "type": contract.type,
                "time": "2026-11-27T08:15:00Z",
                "dataschema": contract.schema_uri,
                "datacontenttype": "application/json",
                "data": contract.example,
            },
        )
        for contract in contracts_all()
    ]


class EventsApi(APIView):
    """POST: CloudEvents intake for source systems. GET: events the caller may see."""

    throttle_classes = [SystemTokenRateThrottle]
    parser_classes: list = []  # the raw bytes are read (and kept) by the view itself
    pagination_class = NewestFirst

    def get_permissions(self):
        return [IsSourceSystem()] if self.request.method == "POST" else [CanView()]

    @extend_schema(
        parameters=[],
        filters=True,
        responses=EventSerializer(many=True),
        description="Events within your scope (a system token sees only its own system's events).",
    )
    def get(self, request):
        return filtered_page(
            request=request,
            view=self,
            queryset=selectors.events_visible(access=access_for(request.user)),
            serializer_class=EventSerializer,
        )

    filterset_class = EventFilter

    @extend_schema(
        request=intake_schema.EVENTS_REQUEST,
        parameters=intake_schema.BINARY_HEADERS,
        responses=intake_schema.EVENTS_RESPONSES,
        examples=_examples(),
        description=(
            "Structured mode (`application/cloudevents+json`), binary mode (`ce-*` headers, JSON body) or a "
            "batch (`application/cloudevents-batch+json`). `source`+`id` is the idempotency key. "
            "`time` is optional (CloudEvents 1.0): without it the business time is the contract's own "
            "time field (its `x-business-time`), marked `time_basis: data` on the event. "
            "A refused event is answered with all its errors at once (envelope and data) and kept as a "
            "rejected message; text or numbers that cannot be stored (NUL, lone surrogates, NaN, "
            "Infinity, 1e400, nesting past 32 levels) are refused by JSON pointer, never a 5xx."
        ),
    )
    def post(self, request):
        system = request.user.system
        try:
            body = read_body(request)
            mode, candidates = self._candidates(request, body)
        except BodyProblem as problem:
            return refuse(request, problem, system=system)
        record = RequestRecord(
            request.path, request.META.get("CONTENT_TYPE", ""), request_headers(request), body
        )
        outcomes = events_ingest(system=system, candidates=candidates, mode=mode, request=record)
        return answer_many(outcomes) if mode == Event.Mode.BATCH else answer_single(request, outcomes[0])

    def _candidates(self, request, body: bytes) -> tuple[str, list[Candidate]]:
        kind = media_type(request)
        if kind == BATCH:
            items, errors = parse_batch(decode_body(body))
            if errors:
                raise BodyProblem(status=400, slug="validation-error", body=body, detail=errors[0].detail)
            limit = settings.INTAKE_MAX_BATCH_EVENTS
            if len(items) > limit:
                raise BodyProblem(
                    status=413,
                    slug="payload-too-large",
                    body=body,
                    detail=f"The batch has {len(items)} events; at most {limit} per request.",
                )
            return Event.Mode.BATCH, [
                Candidate(raw=p.raw, event=p.event, errors=p.errors, index=i, prefix=f"/{i}")
                for i, p in enumerate(items)
            ]
        if kind == STRUCTURED:
            parsed = parse_structured(decode_body(body))
            return Event.Mode.STRUCTURED, [
                Candidate(raw=parsed.raw, event=parsed.event, errors=parsed.errors)
            ]
        if "ce-specversion" in {name.lower() for name in request.headers}:
            parsed = parse_binary(request.headers, body, request.META.get("CONTENT_TYPE") or None)
            return Event.Mode.BINARY, [Candidate(raw=parsed.raw, event=parsed.event, errors=parsed.errors)]
        raise BodyProblem(
            status=415,
            slug="unsupported-media-type",
            body=body,
            detail=(
                f"Content type {kind or '(none)'!r} is not a CloudEvents mode: send {STRUCTURED}, {BATCH}, "
                "or binary mode with ce-specversion, ce-id, ce-source and ce-type headers."
            ),
        )


class EventDetailApi(APIView):
    """One event with its CloudEvent as stored."""

    @extend_schema(responses=EventDetailSerializer)
    def get(self, request, pk: int):
        access = access_for(request.user)
        event = get_object_or_404(selectors.events_visible(access=access), pk=pk)
        payloads = access.can(Capability.VIEW_PAYLOADS)
        return Response(EventDetailSerializer(event, context={"payloads": payloads}).data)
