"""`/api/v1/exceptions/bulk` and `/api/v1/exceptions/export`: many cases at once.

A bulk action is previewed first (the set is frozen and counted, nothing is done), then
started: it touches exactly the previewed set (`exceptions.services.bulk`). The export streams
every case the queue's filters select, as CSV (`exceptions.services.bulk_export`); the queue
page's download link uses the same response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from itertools import islice

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.accounts.access import CanView, IsPerson, access_for
from controltower.problems import Conflict
from exceptions import selectors
from exceptions.apis import CONFLICT, SEVERITY_PARAMETER, CanWork, SeverityField
from exceptions.filters import CaseFilter
from exceptions.models import Case, CaseBulkJob
from exceptions.services.bulk import (
    PREVIEW_TTL,
    BulkConflict,
    BulkInvalid,
    case_bulk_preview,
    case_bulk_start,
)
from exceptions.services.bulk_export import cases_csv_lines

SAMPLE_SIZE = 20


# --- export ----------------------------------------------------------------------------------------
class CsvRenderer(BaseRenderer):
    """Lets a client ask for `text/csv`. The export streams its own body; what this renders
    is only an error, which stays a problem (JSON) whatever the client accepts."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data)


def _close_connection() -> None:
    connection.close()  # `connection` is per thread: looked up here, in the thread it ran in


async def _lines_async(lines: Iterator[str], batch: int = 500) -> AsyncIterator[str]:
    """The lines, read in batches in the request's own thread (where its database connection
    lives), for an ASGI server, which would otherwise read the whole export into memory."""
    take = sync_to_async(lambda: "".join(islice(lines, batch)), thread_sensitive=True)
    try:
        while text := await take():
            yield text
    finally:
        # The batches ran in the request's thread; its connection goes back (to the pool, or
        # closed) now rather than lingering with that thread.
        await sync_to_async(_close_connection, thread_sensitive=True)()


def csv_response(request, lines: Iterator[str], *, filename: str) -> StreamingHttpResponse:
    """Stream `lines` as a CSV download, under WSGI and ASGI alike."""
    served_async = isinstance(getattr(request, "_request", request), ASGIRequest)
    body = _lines_async(iter(lines)) if served_async else lines
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def export_filename() -> str:
    return f"exceptions-{timezone.now():%Y%m%d-%H%M%S}.csv"


class FilteredSchema(AutoSchema):
    """The schema lists the filters of a view that answers one document, not a list."""

    def get_filter_backends(self):
        return getattr(self.view, "filter_backends", [])


class CaseExportApi(APIView):
    """The cases the same filters select, all of them (not a page), as CSV, streamed. Text cells
    that a spreadsheet would run as a formula (starting with = + - @) begin with an apostrophe."""

    filterset_class = CaseFilter
    filter_backends = [DjangoFilterBackend]
    queryset = Case.objects.none()  # for the schema only
    schema = FilteredSchema()
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        filters=True,
        parameters=[SEVERITY_PARAMETER],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One line per case.")},
    )
    def get(self, request):
        visible = selectors.cases_visible(access=access_for(request.user))
        filterset = CaseFilter(request.query_params, queryset=visible, request=request)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        return csv_response(request, cases_csv_lines(filterset.qs), filename=export_filename())


# --- acting on many -------------------------------------------------------------------------------
class BulkRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=CaseBulkJob.Action.choices)
    filter = serializers.DictField(
        required=False,
        help_text="The queue's filters (as `GET /api/v1/exceptions` takes them): every case that "
        "matches, in your scope. Give this or `ids`.",
    )
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=50_000,
        help_text="These cases (each must be in your scope).",
    )
    assignee = serializers.CharField(
        required=False, allow_null=True, max_length=150, help_text='assign: a username, "me" or null.'
    )
    team = serializers.CharField(
        required=False, allow_null=True, max_length=100, help_text="assign: a team's name, or null."
    )
    until = serializers.DateTimeField(required=False, help_text="snooze: until when.")
    reason_code = serializers.CharField(required=False, max_length=32, help_text="resolve, ignore: why.")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class BulkStartSerializer(serializers.Serializer):
    expected_count = serializers.IntegerField(
        required=False, min_value=0, max_value=2**31 - 1, help_text="The preview's `total`, as you saw it."
    )


class CaseBriefSerializer(serializers.ModelSerializer):
    severity = SeverityField(read_only=True)

    class Meta:
        model = Case
        fields = ["id", "title", "state", "severity"]


class BulkJobSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    done = serializers.IntegerField(source="position", help_text="Cases worked so far.")
    preview_expires_at = serializers.SerializerMethodField()
    sample = serializers.SerializerMethodField(help_text=f"The first {SAMPLE_SIZE} cases of the set.")
    problems = serializers.ListField(
        child=inline_serializer(
            "BulkProblem", {"case": serializers.IntegerField(), "detail": serializers.CharField()}
        ),
        help_text="Cases skipped (changed meanwhile, no longer in scope, …), the first 100.",
    )

    class Meta:
        model = CaseBulkJob
        fields = [
            "id",
            "url",
            "action",
            "params",
            "selection",
            "state",
            "total",
            "done",
            "succeeded",
            "skipped",
            "problems",
            "error",
            "created_at",
            "preview_expires_at",
            "started_at",
            "finished_at",
            "sample",
        ]

    def get_url(self, job: CaseBulkJob) -> str:
        return job_url(job)

    def get_preview_expires_at(self, job: CaseBulkJob) -> datetime:
        return job.created_at + PREVIEW_TTL

    @extend_schema_field(CaseBriefSerializer(many=True))
    def get_sample(self, job: CaseBulkJob) -> list[dict]:
        ids = [pk for pk, _ in job.cases[:SAMPLE_SIZE]]
        found = {case.pk: case for case in Case.objects.filter(pk__in=ids)}
        return CaseBriefSerializer([found[pk] for pk in ids if pk in found], many=True).data


def bulk_jobs_of(user):
    return CaseBulkJob.objects.filter(created_by=user)


class CaseBulkApi(APIView):
    """Preview an action on many cases: the set (every case `filter` matches, or `ids`) is
    frozen with each case's version and counted; nothing is done yet. Start it with
    `POST …/bulk/{id}/start`: it touches exactly that set, and skips (naming them) cases that
    changed after the preview."""

    permission_classes = [CanWork, IsPerson]

    @extend_schema(request=BulkRequestSerializer, responses={201: BulkJobSerializer})
    def post(self, request):
        data = BulkRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        try:
            job = case_bulk_preview(
                user=request.user,
                action=values.pop("action"),
                values=values,
                filter_data=values.pop("filter", None),
                ids=values.pop("ids", None),
            )
        except BulkInvalid as invalid:
            raise ValidationError(invalid.errors) from None
        return Response(BulkJobSerializer(job).data, status=201, headers={"Location": job_url(job)})


def job_url(job: CaseBulkJob) -> str:
    return reverse("api-v1:case-bulk", args=[job.pk])


class CaseBulkDetailApi(APIView):
    """A bulk action you previewed or started: its state and progress."""

    permission_classes = [CanView, IsPerson]

    @extend_schema(responses=BulkJobSerializer)
    def get(self, request, pk: int):
        return Response(BulkJobSerializer(get_object_or_404(bulk_jobs_of(request.user), pk=pk)).data)


class CaseBulkStartApi(APIView):
    """Start a previewed bulk action: small ones finish within the request, larger ones run in
    a worker (follow `url`). 409 if it started already, its preview is over 30 minutes old, or
    `expected_count` is not what the preview counted."""

    permission_classes = [CanWork, IsPerson]

    @extend_schema(request=BulkStartSerializer, responses={202: BulkJobSerializer, 409: CONFLICT})
    def post(self, request, pk: int):
        job = get_object_or_404(bulk_jobs_of(request.user), pk=pk)
        data = BulkStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = case_bulk_start(
                job=job, user=request.user, expected_count=data.validated_data.get("expected_count")
            )
        except BulkConflict as conflict:
            raise Conflict(conflict.detail) from None
        return Response(BulkJobSerializer(job).data, status=202)
