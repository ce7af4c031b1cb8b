"""`/api/v1/exceptions`: the case queues for ticketing tools and scripts.

Reading needs the view permission and shows only cases in the caller's scope (another plant's
case is a 404, as on the pages); acting needs the work_exceptions permission (a viewer gets 403)
and a person (history names who acted). Each action calls the same workflow service as the case
page. Send the `version` you looked at: if the case changed since, nothing is done and the answer
is 409 saying who changed it; a field the action cannot take is a 400 naming it; an action the
case's state does not allow (resolving a resolved case) is a 409 too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.accounts.access import CanRecover, HasCapability, IsPerson, access_for
from controltower.accounts.roles import Capability
from controltower.api import filtered_page
from controltower.problems import Conflict
from exceptions import selectors
from exceptions.filters import DEFAULT_SORT, CaseFilter
from exceptions.models import Case, CaseEntry, Occurrence, Team
from exceptions.services import (
    CaseActionError,
    CaseChanged,
    case_acknowledge,
    case_assign,
    case_comment,
    case_ignore,
    case_reopen,
    case_resolve,
    case_snooze,
)
from exceptions.services.actions import case_retry
from exceptions.services.workflow import IGNORE_REASONS, RESOLVE_REASONS
from integrations.apis.serializers import RejectedMessageSerializer
from integrations.selectors import rejected_messages_visible

CanWork = HasCapability.of(Capability.WORK_EXCEPTIONS)
SEVERITY_NAMES = {value: label.lower() for value, label in Case.Severity.choices}
# Cases without an SLA sort after every case with one (as the queue's `nulls_last`), and a
# cursor needs a value to compare: this one.
NO_SLA = datetime(9999, 12, 31, tzinfo=UTC)
#: The queue's sorts (`exceptions.filters.SORTS`) as a cursor can follow them.
ORDERINGS = {
    "severity": ("-severity", "sla_order", "-id"),
    "sla": ("sla_order", "-severity", "-id"),
    "age": ("opened_at", "id"),
    "recent": ("-last_seen_at", "-id"),
}


def with_sla_order(cases):
    return cases.annotate(sla_order=Coalesce("sla_due_at", Value(NO_SLA, output_field=DateTimeField())))


class QueueOrder(CursorPagination):
    """Pages in the order `sort=` asks for (most severe first by default)."""

    ordering = ORDERINGS[DEFAULT_SORT]

    def get_ordering(self, request, queryset, view):
        return ORDERINGS.get(request.query_params.get("sort") or DEFAULT_SORT, self.ordering)


# django-filter's schema reads `severity` as the model's integers; the filter takes the names.
SEVERITY_PARAMETER = OpenApiParameter(
    "severity",
    {"type": "array", "items": {"type": "string", "enum": list(SEVERITY_NAMES.values())}},
    style="form",
    explode=True,
    description="Any of these severities (repeat the parameter).",
)


# --- what a case looks like ---------------------------------------------------------------------
@extend_schema_field(serializers.ChoiceField(choices=list(SEVERITY_NAMES.values())))
class SeverityField(serializers.Field):
    def to_representation(self, value: int) -> str:
        return SEVERITY_NAMES[value]


class CaseSerializer(serializers.ModelSerializer):
    severity = SeverityField(read_only=True)
    plant = serializers.CharField(source="plant.code", allow_null=True, default=None)
    supplier = serializers.CharField(source="supplier.code", allow_null=True, default=None)
    system = serializers.CharField(source="system.code", allow_null=True, default=None)
    target = serializers.CharField(source="target.code", allow_null=True, default=None)
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)
    team = serializers.CharField(source="team.name", allow_null=True, default=None)
    version = serializers.IntegerField(help_text="Send it with an action: 409 if the case changed since.")

    class Meta:
        model = Case
        fields = [
            "id",
            "kind",
            "severity",
            "state",
            "title",
            "plant",
            "supplier",
            "system",
            "target",
            "occurrences",
            "first_seen_at",
            "last_seen_at",
            "opened_at",
            "closed_at",
            "snoozed_until",
            "sla_due_at",
            "assignee",
            "team",
            "reason_code",
            "reason_comment",
            "version",
        ]


class OccurrenceSerializer(serializers.ModelSerializer):
    rejected_message = serializers.SerializerMethodField(
        help_text="The refused message (its body only with the view_payloads permission)."
    )

    class Meta:
        model = Occurrence
        fields = ["source", "ref_id", "occurred_at", "cleared_at", "detail", "rejected_message"]

    @extend_schema_field(RejectedMessageSerializer(allow_null=True))
    def get_rejected_message(self, occurrence: Occurrence) -> dict | None:
        rejected = self.context["rejected"].get(occurrence.ref_id)
        if occurrence.source != Occurrence.Source.REJECTED or rejected is None:
            return None
        return RejectedMessageSerializer(rejected, context=self.context).data


class CaseEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name")

    class Meta:
        model = CaseEntry
        fields = ["at", "actor", "action", "before", "after", "comment"]


class CaseDetailSerializer(CaseSerializer):
    """Needs `rejected` (visible refused messages by id) and `payloads` in its context."""

    trace = serializers.IntegerField(source="trace_id", allow_null=True)
    evidence = serializers.JSONField(help_text="The values, errors and references behind the case.")
    occurrence_list = serializers.SerializerMethodField(help_text="The newest 50, present ones first.")
    history = serializers.SerializerMethodField(help_text="Newest first.")

    class Meta(CaseSerializer.Meta):
        fields = [
            *CaseSerializer.Meta.fields,
            "summary",
            "error_class",
            "business_key",
            "trace",
            "evidence",
            "occurrence_list",
            "history",
        ]

    @extend_schema_field(OccurrenceSerializer(many=True))
    def get_occurrence_list(self, case: Case) -> list[dict]:
        return OccurrenceSerializer(self.context["occurrences"], many=True, context=self.context).data

    @extend_schema_field(CaseEntrySerializer(many=True))
    def get_history(self, case: Case) -> list[dict]:
        return CaseEntrySerializer(selectors.case_history(case=case), many=True).data


def case_detail(case: Case, access) -> dict:
    occurrences = list(selectors.case_occurrences(case=case))
    rejected_ids = [o.ref_id for o in occurrences if o.source == Occurrence.Source.REJECTED]
    rejected = rejected_messages_visible(access=access).filter(pk__in=rejected_ids).select_related("system")
    context = {
        "occurrences": occurrences,
        "rejected": {row.pk: row for row in rejected},
        "payloads": access.can(Capability.VIEW_PAYLOADS),
    }
    return CaseDetailSerializer(case, context=context).data


# --- reading --------------------------------------------------------------------------------------
class CaseListApi(APIView):
    """Cases in your scope, filtered as the queue page filters them (same parameters, so a
    queue's URL query works here); `state` defaults to cases needing work, `sort` to most
    severe first. Paged by cursor, in the sort's order."""

    filterset_class = CaseFilter
    # Named, so the schema lists the filters (an APIView has no backends of its own).
    filter_backends = [DjangoFilterBackend]
    queryset = Case.objects.none()  # for the schema only: the cases are the caller's (see get)
    pagination_class = QueueOrder

    @extend_schema(responses=CaseSerializer(many=True), filters=True, parameters=[SEVERITY_PARAMETER])
    def get(self, request):
        visible = selectors.cases_visible(access=access_for(request.user))
        return filtered_page(
            request=request,
            view=self,
            queryset=with_sla_order(visible),
            serializer_class=CaseSerializer,
        )


class CaseDetailApi(APIView):
    """One case: its evidence, occurrences (refused messages' bodies only with the
    view_payloads permission) and history."""

    @extend_schema(responses=CaseDetailSerializer)
    def get(self, request, pk: int):
        access = access_for(request.user)
        case = get_object_or_404(selectors.cases_visible(access=access), pk=pk)
        return Response(case_detail(case, access))


# --- acting on one case ---------------------------------------------------------------------------
class VersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="The version you looked at; if the case changed since, 409 and nothing is done.",
    )


class CommentedSerializer(VersionSerializer):
    comment = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class AssignSerializer(CommentedSerializer):
    assignee = serializers.CharField(
        allow_null=True, max_length=150, help_text='A handler\'s username, "me", or null for nobody.'
    )
    team = serializers.CharField(
        allow_null=True, required=False, default=None, max_length=100, help_text="A team's name, or null."
    )


class SnoozeSerializer(CommentedSerializer):
    until = serializers.DateTimeField(help_text="When it comes back (in the future).")


class ResolveSerializer(CommentedSerializer):
    reason_code = serializers.ChoiceField(choices=list(RESOLVE_REASONS.items()))


class IgnoreSerializer(CommentedSerializer):
    reason_code = serializers.ChoiceField(choices=list(IGNORE_REASONS.items()))


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=5000)


def _refusal(error: CaseActionError) -> Exception:
    if isinstance(error, CaseChanged) or not error.field:
        return Conflict(error.detail)
    return ValidationError({error.field: [error.detail]})


CONFLICT = OpenApiResponse(description="The case changed meanwhile, or its state does not allow this.")


class CaseActionApi(APIView):
    """Base of the actions: find the case in scope, check the body, call the service."""

    permission_classes = [CanWork, IsPerson]
    body: type[serializers.Serializer] = VersionSerializer

    def post(self, request, pk: int):
        access = access_for(request.user)
        visible = selectors.cases_visible(access=access)
        case = get_object_or_404(visible, pk=pk)
        data = self.body(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            self.act(case=case, user=request.user, values=data.validated_data)
        except CaseActionError as error:
            raise _refusal(error) from None
        return Response(CaseSerializer(visible.get(pk=case.pk)).data)

    def act(self, *, case: Case, user, values: dict) -> None:
        raise NotImplementedError


def _action_schema(body: type[serializers.Serializer], summary: str):
    return extend_schema_view(
        post=extend_schema(summary=summary, request=body, responses={200: CaseSerializer, 409: CONFLICT})
    )


@_action_schema(VersionSerializer, "Acknowledge a case (a snoozed one wakes)")
class CaseAcknowledgeApi(CaseActionApi):
    def act(self, *, case, user, values):
        case_acknowledge(case_id=case.pk, user=user, version=values.get("version"))


@_action_schema(AssignSerializer, "Assign a case to a handler and/or a team")
class CaseAssignApi(CaseActionApi):
    body = AssignSerializer

    def act(self, *, case, user, values):
        who, team_name = values["assignee"], values["team"]
        assignee = user if who == "me" else None
        if who and who != "me":
            assignee = get_user_model().objects.filter(username=who, is_active=True).first()
            if assignee is None:
                raise CaseActionError(f"There is no user {who}.", field="assignee")
        team = Team.objects.filter(name=team_name).first() if team_name else None
        if team_name and team is None:
            raise CaseActionError(f"There is no team {team_name}.", field="team")
        case_assign(
            case_id=case.pk,
            user=user,
            assignee=assignee,
            team=team,
            version=values.get("version"),
            comment=values["comment"],
        )


@_action_schema(SnoozeSerializer, "Snooze a case until a time")
class CaseSnoozeApi(CaseActionApi):
    body = SnoozeSerializer

    def act(self, *, case, user, values):
        case_snooze(
            case_id=case.pk,
            user=user,
            until=values["until"],
            version=values.get("version"),
            comment=values["comment"],
        )


@_action_schema(ResolveSerializer, "Resolve a case with a reason")
class CaseResolveApi(CaseActionApi):
    body = ResolveSerializer

    def act(self, *, case, user, values):
        case_resolve(
            case_id=case.pk,
            user=user,
            reason_code=values["reason_code"],
            comment=values["comment"],
            version=values.get("version"),
        )


@_action_schema(IgnoreSerializer, "Ignore a case with a reason")
class CaseIgnoreApi(CaseActionApi):
    body = IgnoreSerializer

    def act(self, *, case, user, values):
        case_ignore(
            case_id=case.pk,
            user=user,
            reason_code=values["reason_code"],
            comment=values["comment"],
            version=values.get("version"),
        )


@_action_schema(CommentedSerializer, "Reopen a resolved or ignored case")
class CaseReopenApi(CaseActionApi):
    body = CommentedSerializer

    def act(self, *, case, user, values):
        case_reopen(case_id=case.pk, user=user, comment=values["comment"], version=values.get("version"))


@_action_schema(CommentSerializer, "Comment on a case")
class CaseCommentApi(CaseActionApi):
    body = CommentSerializer

    def act(self, *, case, user, values):
        case_comment(case_id=case.pk, user=user, comment=values["comment"])


class RetrySerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Kept with the job.")


class CaseRetryApi(APIView):
    """Retry a dead-letter case's deliveries as one job (the recover permission)."""

    permission_classes = [CanRecover, IsPerson]

    @extend_schema(
        request=RetrySerializer,
        responses={
            202: inline_serializer(
                "CaseRetryStarted",
                {
                    "id": serializers.IntegerField(),
                    "url": serializers.CharField(),
                    "total": serializers.IntegerField(),
                },
            ),
            409: CONFLICT,
        },
    )
    def post(self, request, pk: int):
        case = get_object_or_404(selectors.cases_visible(access=access_for(request.user)), pk=pk)
        data = RetrySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = case_retry(case=case, user=request.user, reason=data.validated_data["reason"])
        except CaseActionError as error:
            raise _refusal(error) from None
        return Response(
            {"id": job.pk, "url": reverse("api-v1:replay", args=[job.pk]), "total": job.total}, status=202
        )


#: The routes of the actions on one case (`/api/v1/exceptions/{id}/{action}`).
CASE_ACTION_APIS: dict[str, type[APIView]] = {
    "acknowledge": CaseAcknowledgeApi,
    "assign": CaseAssignApi,
    "snooze": CaseSnoozeApi,
    "resolve": CaseResolveApi,
    "ignore": CaseIgnoreApi,
    "reopen": CaseReopenApi,
    "comment": CaseCommentApi,
    "retry": CaseRetryApi,
}
