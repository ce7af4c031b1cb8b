"""Exception queue pages: the queue (one filter set, shared with the API) and the case page.

Both are live pages (`controltower.web.live.pages`): their sections re-render when a case in
the viewer's scope changes. Actions are plain form POSTs that redirect back (the page then
shows the new state, live or not); a refusal or "changed meanwhile" comes back as a message.
Viewers see cases but act on none; scoped users get 404 for a case outside their scope.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from controltower.accounts.access import access_for, require_capability
from controltower.accounts.roles import Capability, Role
from controltower.web.htmx import page_or_partial
from exceptions import selectors
from exceptions.apis_bulk import SAMPLE_SIZE, csv_response, export_filename
from exceptions.filters import QUEUES, CaseFilter
from exceptions.models import Case, CaseBulkJob, Occurrence, Team
from exceptions.services import (
    CaseActionError,
    case_acknowledge,
    case_assign,
    case_comment,
    case_ignore,
    case_reopen,
    case_resolve,
    case_snooze,
)
from exceptions.services.actions import case_dead_letters, case_resubmit, case_retry
from exceptions.services.bulk import (
    PREVIEW_TTL,
    BulkConflict,
    BulkInvalid,
    case_bulk_preview,
    case_bulk_start,
)
from exceptions.services.bulk_export import cases_csv_lines
from exceptions.services.workflow import IGNORE_REASONS, RESOLVE_REASONS
from integrations.selectors import rejected_messages_visible

PAGE_SIZE = 50
SNOOZE_CHOICES = {"1h": ("1 hour", timedelta(hours=1)), "4h": ("4 hours", timedelta(hours=4)),
                  "1d": ("1 day", timedelta(days=1)), "3d": ("3 days", timedelta(days=3)),
                  "7d": ("1 week", timedelta(days=7))}  # fmt: skip


@require_capability(Capability.VIEW)
def cases(request: HttpRequest) -> HttpResponse:
    """The queue: my queue / my teams / unassigned / all, filtered and sorted by the URL."""
    access = access_for(request.user)
    visible = selectors.cases_visible(access=access)
    filterset = CaseFilter(request.GET, queryset=visible, request=request)
    valid = filterset.is_valid()
    rows = filterset.qs if valid else visible.none()
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    tabs = []
    for name, label in QUEUES.items():
        tab_query = query.copy()
        tab_query["queue"] = name
        counted = CaseFilter({"queue": name}, queryset=visible, request=request)
        tabs.append(
            {
                "name": name,
                "label": label,
                "count": counted.qs.count(),
                "query": tab_query.urlencode(),
                "current": (request.GET.get("queue") or "all") == name,
            }
        )
    context = {
        "filter": filterset,
        "errors": None if valid else filterset.errors,
        "page": page,
        "tabs": tabs,
        "query": query.urlencode(),
        "can_work": access.can(Capability.WORK_EXCEPTIONS),
        "now": timezone.now(),
        # The bulk form and the keyboard's dialogs.
        "snooze_choices": {name: label for name, (label, _) in SNOOZE_CHOICES.items()},
        "snooze_seconds": {
            name: (label, int(span.total_seconds())) for name, (label, span) in SNOOZE_CHOICES.items()
        },
        "resolve_reasons": RESOLVE_REASONS,
        "ignore_reasons": IGNORE_REASONS,
    }
    template = page_or_partial(request, "web/exceptions.html", "queue")
    return render(request, template, context, status=200 if valid else 400)


def _handlers_for(case: Case) -> list:
    """Who the case can be assigned to: active handlers whose scope covers it."""
    candidates = (
        get_user_model()
        .objects.filter(is_active=True, groups__name=Role.EXCEPTION_HANDLER.value)
        .order_by("username")
        .distinct()[:100]
    )
    return [
        user
        for user in candidates
        if access_for(user).scope.allows(plant_id=case.plant_id, supplier_id=case.supplier_id)
    ]


@require_capability(Capability.VIEW)
def case(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_for(request.user)
    found = get_object_or_404(selectors.cases_visible(access=access).select_related("trace__root"), pk=pk)
    can_work = access.can(Capability.WORK_EXCEPTIONS)
    can_recover = access.can(Capability.RECOVER)
    occurrences = list(selectors.case_occurrences(case=found))
    rejected_ids = [o.ref_id for o in occurrences if o.source == Occurrence.Source.REJECTED]
    rejected = {row.pk: row for row in rejected_messages_visible(access=access).filter(pk__in=rejected_ids)}
    context = {
        "case": found,
        "occurrences": [{"row": o, "rejected": rejected.get(o.ref_id)} for o in occurrences],
        "history": selectors.case_history(case=found),
        "can_work": can_work,
        "can_recover": can_recover,
        "resolve_reasons": RESOLVE_REASONS,
        "ignore_reasons": IGNORE_REASONS,
        "snooze_choices": {name: label for name, (label, _) in SNOOZE_CHOICES.items()},
    }
    template = page_or_partial(request, "web/exception.html", "summary")
    if "#" not in template and can_work:
        context["handlers"] = _handlers_for(found)
        context["teams"] = Team.objects.all()
        if can_recover and found.kind == Case.Kind.DEAD_LETTER and found.is_active:
            context["dead_letters"] = case_dead_letters(case=found, user=request.user)
        fixable = next(
            (o["rejected"] for o in context["occurrences"] if o["rejected"] and not o["row"].cleared_at), None
        )
        if can_recover and access.can(Capability.VIEW_PAYLOADS) and fixable and fixable.system_id:
            context["fixable"] = fixable
    return render(request, template, context)


def _version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST["version"])
    except (KeyError, ValueError):
        return None


def _act(request: HttpRequest, found: Case, action: str) -> str:
    """Call the service for `action` with the form's values; returns the success message."""
    user, version, comment = request.user, _version(request), request.POST.get("comment", "").strip()
    if action == "acknowledge":
        case_acknowledge(case_id=found.pk, user=user, version=version)
        return "Acknowledged."
    if action == "assign":
        who = request.POST.get("assignee", "")
        assignee = None
        if who == "me":
            assignee = user
        elif who:
            assignee = get_user_model().objects.filter(username=who, is_active=True).first()
            if assignee is None:
                raise CaseActionError(f"There is no user {who}.", field="assignee")
        team_id = request.POST.get("team", "")
        team = Team.objects.filter(pk=team_id).first() if team_id.isdigit() else None
        case_assign(
            case_id=found.pk, user=user, assignee=assignee, team=team, version=version, comment=comment
        )
        return f"Assigned to {assignee or 'nobody'}{f' ({team})' if team else ''}."
    if action == "snooze":
        choice = SNOOZE_CHOICES.get(request.POST.get("for", ""))
        if choice is None:
            raise CaseActionError("Choose how long to snooze.", field="for")
        case_snooze(
            case_id=found.pk, user=user, until=timezone.now() + choice[1], version=version, comment=comment
        )
        return f"Snoozed for {choice[0]}."
    if action == "resolve":
        case_resolve(
            case_id=found.pk,
            user=user,
            reason_code=request.POST.get("reason_code", ""),
            comment=comment,
            version=version,
        )
        return "Resolved. It reopens if it happens again."
    if action == "ignore":
        case_ignore(
            case_id=found.pk,
            user=user,
            reason_code=request.POST.get("reason_code", ""),
            comment=comment,
            version=version,
        )
        return "Ignored. It keeps counting but stays closed."
    if action == "reopen":
        case_reopen(case_id=found.pk, user=user, comment=comment, version=version)
        return "Reopened."
    case_comment(case_id=found.pk, user=user, comment=comment)
    return "Comment added."


ACTIONS = ("acknowledge", "assign", "snooze", "resolve", "ignore", "reopen", "comment")


@require_capability(Capability.WORK_EXCEPTIONS)
@require_POST
def case_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    found = get_object_or_404(selectors.cases_visible(access=access_for(request.user)), pk=pk)
    if action not in ACTIONS:
        return HttpResponse(status=404)
    try:
        messages.success(request, _act(request, found, action))
    except CaseActionError as error:
        messages.error(request, error.detail)
    return redirect("case", pk=found.pk)


@require_capability(Capability.RECOVER)
@require_POST
def case_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Retry the case's dead letters as one job (the integrations service); then its page."""
    found = get_object_or_404(selectors.cases_visible(access=access_for(request.user)), pk=pk)
    try:
        job = case_retry(case=found, user=request.user, reason=request.POST.get("reason", ""))
    except CaseActionError as error:
        messages.error(request, error.detail)
        return redirect("case", pk=found.pk)
    messages.success(request, f"Job #{job.pk} queued: {job.total} delivery(ies) go to their target again.")
    return redirect("replay", pk=job.pk)


@require_capability(Capability.RECOVER)
@require_POST
def case_resubmit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Resubmit one of the case's refused messages, corrected, through intake again."""
    access = access_for(request.user)
    access.require(Capability.VIEW_PAYLOADS)  # the body is shown and changed
    found = get_object_or_404(selectors.cases_visible(access=access), pk=pk)
    try:
        rejected_id = int(request.POST.get("rejected", ""))
        resubmission = case_resubmit(
            case=found,
            rejected_id=rejected_id,
            user=request.user,
            body=request.POST.get("body", ""),
            reason=request.POST.get("reason", ""),
        )
    except ValueError:
        messages.error(request, "Name the refused message to resubmit.")
    except CaseActionError as error:
        messages.error(request, error.detail)
    else:
        messages.success(
            request, f"Resubmission {resubmission.pk} queued: once accepted, this case closes itself."
        )
    return redirect("case", pk=found.pk)


# --- CSV export and bulk actions (the API shares their services: exceptions.apis) -------------
@require_capability(Capability.VIEW)
def cases_export(request: HttpRequest) -> HttpResponse:
    """The queue as filtered by the URL, every matching case in scope, as a CSV download."""
    visible = selectors.cases_visible(access=access_for(request.user))
    filterset = CaseFilter(request.GET, queryset=visible, request=request)
    if not filterset.is_valid():
        return cases(request)  # the queue page names the bad filter (400)
    return csv_response(request, cases_csv_lines(filterset.qs), filename=export_filename())


def _bulk_values(request: HttpRequest, action: str) -> dict:
    """The bulk form's fields as `case_bulk_preview` takes them."""
    values: dict = {"comment": request.POST.get("comment", "")}
    if action == CaseBulkJob.Action.ASSIGN:
        values["assignee"] = request.POST.get("assignee", "me")
    elif action == CaseBulkJob.Action.SNOOZE:
        choice = SNOOZE_CHOICES.get(request.POST.get("for", ""))
        values["until"] = timezone.now() + choice[1] if choice else None
    elif action in (CaseBulkJob.Action.RESOLVE, CaseBulkJob.Action.IGNORE):
        values["reason_code"] = request.POST.get(f"{action}_reason", "")
    return values


@require_capability(Capability.WORK_EXCEPTIONS)
@require_POST
def case_bulk_preview_view(request: HttpRequest) -> HttpResponse:
    """Freeze and count the selection (the ticked cases, or every case matching the queue's
    filters), then show the preview; nothing runs until it is confirmed there."""
    query = QueryDict(request.POST.get("query", ""))
    action = request.POST.get("action", "")
    if request.POST.get("select") == "all":
        selection = {"filter_data": {name: query.getlist(name) for name in query if name != "page"}}
    else:
        ids = [int(pk) for pk in request.POST.getlist("ids") if pk.isdigit()]
        selection = {"ids": ids}
        if not ids:
            messages.error(request, "Tick the cases to act on, or choose every matching case.")
            return redirect(f"{reverse('cases')}?{query.urlencode()}")
    try:
        job = case_bulk_preview(
            user=request.user, action=action, values=_bulk_values(request, action), **selection
        )
    except BulkInvalid as invalid:
        for line in invalid.messages():
            messages.error(request, line)
        return redirect(f"{reverse('cases')}?{query.urlencode()}")
    return redirect("case-bulk", pk=job.pk)


def _bulk_description(job: CaseBulkJob) -> str:
    """What the job does, in words: "resolve as “Duplicate” (comment: one outage)"."""
    comment = job.params.get("comment", "")
    what = _bulk_action_words(job)
    if comment and job.action != CaseBulkJob.Action.COMMENT:
        return f"{what} (comment: {comment})"
    return f"comment “{comment}” on" if job.action == CaseBulkJob.Action.COMMENT else what


def _bulk_action_words(job: CaseBulkJob) -> str:
    params = job.params
    if job.action == CaseBulkJob.Action.ASSIGN:
        return f"assign to {params.get('assignee_name') or 'nobody'}"
    if job.action == CaseBulkJob.Action.SNOOZE:
        return f"snooze until {params['until'][:16].replace('T', ' ')} UTC"
    if job.action == CaseBulkJob.Action.RESOLVE:
        return f"resolve as “{RESOLVE_REASONS.get(params.get('reason_code'), '')}”"
    if job.action == CaseBulkJob.Action.IGNORE:
        return f"ignore as “{IGNORE_REASONS.get(params.get('reason_code'), '')}”"
    return job.get_action_display().lower()


@require_capability(Capability.VIEW)
def case_bulk(request: HttpRequest, pk: int) -> HttpResponse:
    """A bulk action of yours: its preview (count and the first cases) until confirmed, then
    its progress, live (`Kind.JOB_PROGRESS`)."""
    job = get_object_or_404(CaseBulkJob.objects.filter(created_by=request.user), pk=pk)
    sample_ids = [case_id for case_id, _ in job.cases[:SAMPLE_SIZE]]
    sample = {
        case.pk: case
        for case in selectors.cases_visible(access=access_for(request.user)).filter(pk__in=sample_ids)
    }
    selection = job.selection.get("filter")
    context = {
        "job": job,
        "description": _bulk_description(job),
        "sample": [sample[case_id] for case_id in sample_ids if case_id in sample],
        "query": urlencode(selection, doseq=True) if isinstance(selection, dict) else "",
        "expired": job.state == CaseBulkJob.State.PREVIEWED and timezone.now() - job.created_at > PREVIEW_TTL,
        "can_work": access_for(request.user).can(Capability.WORK_EXCEPTIONS),
    }
    return render(request, page_or_partial(request, "web/exceptions_bulk.html", "progress"), context)


@require_capability(Capability.WORK_EXCEPTIONS)
@require_POST
def case_bulk_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(CaseBulkJob.objects.filter(created_by=request.user), pk=pk)
    expected = request.POST.get("expected_count", "")
    try:
        job = case_bulk_start(
            job=job, user=request.user, expected_count=int(expected) if expected.isdigit() else None
        )
    except BulkConflict as conflict:
        messages.error(request, conflict.detail)
    else:
        if job.state == CaseBulkJob.State.DONE:
            messages.success(request, f"Done: {job.succeeded} case(s) changed, {job.skipped} skipped.")
        else:
            messages.success(request, f"Running in the background on {job.total} case(s).")
    return redirect("case-bulk", pk=job.pk)
