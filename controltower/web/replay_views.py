"""Bulk work on deliveries: the dead letters with "retry all that match", replay jobs, one job.

Starting a job is always two steps. The preview counts every delivery the filter matches —
all of them, not the page on screen — as of a moment; the start form carries that filter, that
moment and that count back, and `replay_start` refuses (`PreviewChanged`) if the same filter
no longer gives the same set. The job itself runs in Celery; these pages only show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, F, OuterRef, Q, QuerySet, Subquery, When
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, push_url

from controltower.accounts.access import Access, access_for, require_capability
from controltower.accounts.roles import Capability
from controltower.web.delivery_views import (
    PAGE_SIZE,
    delivery_query,
    filter_choices,
    form_status,
    list_query,
    listed,
    query_error,
    raw_filters,
)
from controltower.web.htmx import page_or_partial, url_without
from controltower.web.pinning import Anchoring, micros, moment, pinned_page, pinned_urls
from integrations.delivery.models import Delivery, DeliveryAttempt, ReplayItem, ReplayJob
from integrations.delivery.selectors import (
    DeliveryQuery,
    QueryError,
    deliveries_filtered,
    deliveries_visible,
    replay_jobs_visible,
    replay_progress,
)
from integrations.delivery.services.jobs import PreviewChanged, replay_cancel, replay_preview, replay_start

JOB_PAGE = 25
ITEM_PAGE = 50
FAILING_SHOWN = 50
DEAD_LETTER_FIELDS = ("target", "type", "plant", "supplier", "error_class", "since", "until")
REPLAY_FIELDS = ("target", "type", "plant", "supplier", "since", "until")
LIVE_STATES = (ReplayJob.State.QUEUED, ReplayJob.State.RUNNING, ReplayJob.State.CANCELLING)
PANEL_IDS = {ReplayJob.Kind.RETRY: "retry-panel", ReplayJob.Kind.REPLAY: "replay-panel"}
# The rounds an operator starts on a dead letter (one retry, or a bulk retry).
RETRY_CAUSES = (DeliveryAttempt.Cause.MANUAL, DeliveryAttempt.Cause.BULK)


def _newest_dead_letter(rows: QuerySet[Delivery]) -> int:
    newest = (
        rows.filter(status=Delivery.Status.DEAD_LETTERED).values_list("dead_lettered_at", flat=True).first()
    )
    return micros(newest or timezone.now())


def _retried_since(at) -> Q:
    return Q(round_started_at__gt=at, round_cause__in=RETRY_CAUSES)


def _held_dead_letters(rows: QuerySet[Delivery], anchor: int) -> QuerySet[Delivery]:
    """The dead letters as of the anchor, and those of them retried since: a retried dead letter
    stays in its row and shows how its retry goes — delivered, or dead-lettered again — rather
    than vanishing under the reader. One dead-lettered again has a new `dead_lettered_at`; it
    keeps its place by its last attempt before the anchor (when it was dead-lettered then)."""
    at = moment(anchor)
    before = DeliveryAttempt.objects.filter(delivery=OuterRef("pk"), started_at__lte=at).order_by("-number")
    return (
        rows.filter(Q(status=Delivery.Status.DEAD_LETTERED, dead_lettered_at__lte=at) | _retried_since(at))
        .annotate(
            listed_at=Case(
                When(dead_lettered_at__gt=at, then=Subquery(before.values("started_at")[:1])),
                default=F("dead_lettered_at"),
            )
        )
        .filter(listed_at__isnull=False)  # (dead-lettered for the first time after the anchor)
        .order_by("-listed_at", "-id")
    )


#: Dead letters are listed by when they were dead-lettered, so that is their anchor.
DEAD_LETTERS = Anchoring(
    newest=_newest_dead_letter,
    held=_held_dead_letters,
    newer=lambda rows, anchor: rows.filter(
        status=Delivery.Status.DEAD_LETTERED, dead_lettered_at__gt=moment(anchor)
    ).exclude(_retried_since(moment(anchor))),
)


# --- the preview → start panel ----------------------------------------------------------------
def preview_panel(*, kind: str, query: DeliveryQuery | None, access: Access, **extra) -> dict[str, Any]:
    """What the panel shows: the count as of now and the start form's hidden fields, or why not."""
    panel: dict[str, Any] = {"kind": kind, "id": PANEL_IDS[kind], "fields": [], "preview": None, **extra}
    if query is None:
        return panel
    panel["fields"] = sorted(query.as_json().items())
    try:
        panel["preview"] = replay_preview(kind=kind, query=query, access=access)
    except QueryError as exc:
        panel["error"] = query_error(exc)
    return panel


def _previewed(raw: Mapping[str, Any]) -> tuple[datetime, int]:
    """The preview's moment and count, as the start form carries them back."""
    try:
        as_of = parse_datetime(str(raw.get("as_of", ""))) if raw.get("as_of") else None
    except ValueError:  # well-formed but impossible
        as_of = None
    if as_of is None or as_of.tzinfo is None or as_of > timezone.now():
        raise QueryError("as_of", "Preview first: the start uses the moment and count of a preview.")
    try:
        count = int(str(raw.get("expected_count", "")))
    except ValueError:
        raise QueryError("expected_count", "Preview first: the start uses the count of a preview.") from None
    return as_of, count


@require_capability(Capability.RECOVER)
@require_POST
def replay_start_view(request: HttpRequest) -> HttpResponse:
    """Start the previewed retry or replay; on success, the job page."""
    access = access_for(request.user)
    kind = request.POST.get("kind", "")
    if kind not in PANEL_IDS:
        return HttpResponseBadRequest("Unknown job kind: retry or replay.")
    reason = request.POST.get("reason", "")
    fields = DEAD_LETTER_FIELDS if kind == ReplayJob.Kind.RETRY else REPLAY_FIELDS
    query = None
    try:
        query = delivery_query(request.POST, fields)
        as_of, expected = _previewed(request.POST)
        job = replay_start(
            kind=kind, query=query, reason=reason, user=request.user, as_of=as_of, expected_count=expected
        )
    except PreviewChanged as changed:
        # Show the new count (a fresh preview, so the operator can confirm it) and start nothing.
        panel = preview_panel(kind=kind, query=query, access=access, changed=changed, reason=reason)
        return _panel_response(request, panel, status=409)
    except QueryError as exc:
        panel = preview_panel(kind=kind, query=query, access=access, reason=reason)
        panel["error"] = query_error(exc)
        return _panel_response(request, panel, status=400)
    messages.success(request, f"Job #{job.pk} queued: {job.total} deliver{'y' if job.total == 1 else 'ies'}.")
    url = reverse("replay", kwargs={"pk": job.pk})
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _panel_response(request: HttpRequest, panel: dict[str, Any], *, status: int) -> HttpResponse:
    if request.htmx:
        return render(request, "web/_delivery_replay_panel.html", {"panel": panel, "panel_id": panel["id"]})
    if panel["kind"] == ReplayJob.Kind.RETRY:
        return _dead_letters_page(request, raw=request.POST, panel=panel, status=status)
    return _replays_page(request, form=request.POST, panel=panel, status=status)


# --- dead letters -----------------------------------------------------------------------------
@require_capability(Capability.VIEW)
def dead_letters(request: HttpRequest) -> HttpResponse:
    return _dead_letters_page(request, raw=request.GET, panel=None)


def _dead_letters_page(
    request: HttpRequest, *, raw: Mapping[str, Any], panel: dict | None, status: int = 200
) -> HttpResponse:
    """The dead letters, live: pinned rows (a retried one stays and shows its status), and the
    count of those that match now in the header."""
    access = access_for(request.user)
    rows = listed(deliveries_visible(access=access)).filter(dead_lettered_at__isnull=False)
    error = None
    try:
        query = delivery_query(raw, DEAD_LETTER_FIELDS)
    except QueryError as exc:
        error, rows = query_error(exc), rows.none()
    else:
        rows = deliveries_filtered(rows, query, window="dead_lettered_at")
        if panel is None and raw.get("preview") and access.can(Capability.RECOVER):
            panel = preview_panel(kind=ReplayJob.Kind.RETRY, query=query, access=access)
    rows = rows.order_by("-dead_lettered_at", "-id")
    pinned = pinned_page(rows, raw=raw, per_page=PAGE_SIZE, anchoring=DEAD_LETTERS)
    filters = raw_filters(raw, DEAD_LETTER_FIELDS)
    list_url = reverse("dead-letters")
    context = {
        "page": pinned.page,
        "pinned": pinned,
        "dead_now": rows.filter(status=Delivery.Status.DEAD_LETTERED).count(),
        "filters": filters,
        "list_url": list_url,
        **pinned_urls(list_url=list_url, filters=filters, pinned=pinned),
        "error": error,
        "panel": panel,
        "can_recover": access.can(Capability.RECOVER),
        **filter_choices(access),
    }
    if error:
        status = form_status(request, 400)
    partial = "table" if request.htmx and request.htmx.target == "dead-letters-table" else "results"
    template = page_or_partial(request, "web/dead_letters.html", partial)
    if template == "web/dead_letters.html":
        context |= filter_choices(access)  # the filter form, shown with the whole page only
    response = render(request, template, context, status=status)
    return _preview_not_in_history(request, response)


def _preview_not_in_history(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The dead letters' filter form pushes its URL; a preview's `preview=1` must not stay
    there: Back from the started job (or a reload) showed a stale preview offering to start
    again. (The replay form pushes no URL.)"""
    if request.htmx and request.method == "GET" and request.GET.get("preview"):
        push_url(response, url_without(request, "preview"))
    return response


# --- jobs -------------------------------------------------------------------------------------
@require_capability(Capability.VIEW)
def replays(request: HttpRequest) -> HttpResponse:
    return _replays_page(request, form=request.GET, panel=None)


def _replays_page(
    request: HttpRequest, *, form: Mapping[str, Any], panel: dict | None, status: int = 200
) -> HttpResponse:
    access = access_for(request.user)
    can_recover = access.can(Capability.RECOVER)
    if panel is None and form.get("preview") and can_recover:
        try:
            query = delivery_query(form, REPLAY_FIELDS)
        except QueryError as exc:
            panel = preview_panel(
                kind=ReplayJob.Kind.REPLAY, query=None, access=access, error=query_error(exc)
            )
        else:
            panel = preview_panel(kind=ReplayJob.Kind.REPLAY, query=query, access=access)
    jobs = replay_jobs_visible(access=access, user=request.user)
    filters = {name: request.GET.get(name, "") for name in ("kind", "state")}
    if filters["kind"] in ReplayJob.Kind.values:
        jobs = jobs.filter(kind=filters["kind"])
    if filters["state"] in ReplayJob.State.values:
        jobs = jobs.filter(state=filters["state"])
    # Live, pinned like every list: a job started meanwhile is counted in a bar, not inserted.
    pinned = pinned_page(jobs, raw=request.GET, per_page=JOB_PAGE)
    list_url = reverse("replays")
    context = {
        "page": pinned.page,
        "pinned": pinned,
        "rows": [{"job": job, "progress": replay_progress(job=job)} for job in pinned.page],
        "filters": filters,
        "list_url": list_url,
        **pinned_urls(list_url=list_url, filters=filters, pinned=pinned),
        "kinds": ReplayJob.Kind.choices,
        "states": ReplayJob.State.choices,
        "form": raw_filters(form, REPLAY_FIELDS),
        "panel": panel,
        "can_recover": can_recover,
        **filter_choices(access),
    }
    partial = "panel" if request.htmx and request.htmx.target == "replay-panel" else "table"
    template = page_or_partial(request, "web/replays.html", partial)
    if template == "web/replays.html":
        context |= filter_choices(access)  # the replay form's choices, shown with the whole page only
    return render(request, template, context, status=status)


def progress_of(job: ReplayJob) -> dict[str, Any]:
    """Counts and bar segments; before the worker snapshots the items, all of `total` is pending."""
    counts = replay_progress(job=job)
    finished = counts["delivered"] + counts["failed"] + counts["cancelled"]
    counts["pending"] = max(counts["pending"], job.total - finished)
    total = max(job.total, finished + counts["pending"])
    # The bar is drawn in SVG (x and width are attributes): the Content-Security-Policy refuses
    # inline style attributes, so a segment cannot be sized with style="width: …".
    segments, start = [], 0.0
    for name in ("delivered", "failed", "cancelled"):
        width = 100 * counts[name] / total if total else 0.0
        segments.append({"name": name, "x": f"{start:.2f}", "width": f"{width:.2f}"})
        start += width
    return {
        "counts": counts,
        "total": total,
        "finished": finished,
        "percent": round(100 * finished / total) if total else 100,
        "segments": segments,
    }


@require_capability(Capability.VIEW)
def replay(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_for(request.user)
    job = get_object_or_404(replay_jobs_visible(access=access, user=request.user), pk=pk)
    visible = deliveries_visible(access=access).order_by().values("pk")
    items = job.items.filter(delivery_id__in=visible).select_related("delivery__target").order_by("id")
    outcome = request.GET.get("outcome", "")
    if outcome in ReplayItem.Outcome.values:
        items = items.filter(outcome=outcome)
    items_page = Paginator(items, ITEM_PAGE).get_page(request.GET.get("page"))
    job_url = reverse("replay", kwargs={"pk": job.pk})
    item_query = list_query({"outcome": outcome})
    live_query = item_query.copy()
    if items_page.number > 1:
        live_query["page"] = str(items_page.number)
    failing = None
    if job.verified_at:
        failing = (
            job.items.filter(delivery_id__in=visible)
            .exclude(outcome=ReplayItem.Outcome.CANCELLED)
            .exclude(verified_status=Delivery.Status.DELIVERED)
            .select_related("delivery__target")
            .order_by("id")[:FAILING_SHOWN]
        )
    context = {
        "job": job,
        "live": job.state in LIVE_STATES,
        "progress": progress_of(job),
        "failing": failing,
        "filter_items": sorted(job.filter.items()),
        "items": items_page,
        "outcome": outcome,
        "list_query": item_query,
        "list_url": job_url,
        # The live socket follows the items' filter and page (paging does not change the URL).
        "live_page": f"{job_url}?{live_query.urlencode()}" if live_query else job_url,
        "outcomes": ReplayItem.Outcome.choices,
        "can_recover": access.can(Capability.RECOVER),
    }
    target = request.htmx.target if request.htmx else None
    partial = "items" if target == "replay-items" else "progress"
    return render(request, page_or_partial(request, "web/replay.html", partial), context)


@require_capability(Capability.RECOVER)
@require_POST
def replay_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_for(request.user)
    job = get_object_or_404(replay_jobs_visible(access=access, user=request.user), pk=pk)
    if replay_cancel(job=job, user=request.user):
        messages.success(request, f"Job #{job.pk} is cancelling: items not yet sent are cancelled.")
    else:
        messages.error(request, f"Job #{job.pk} had ended ({job.get_state_display().lower()}).")
    return redirect("replay", pk=job.pk)


@require_capability(Capability.RECOVER)
@require_POST
def replay_verify_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue the verification pass again (it records which items still fail)."""
    from integrations.delivery.tasks import replay_verify

    access = access_for(request.user)
    job = get_object_or_404(replay_jobs_visible(access=access, user=request.user), pk=pk)
    if job.state in LIVE_STATES:
        messages.error(request, f"Job #{job.pk} is still {job.get_state_display().lower()}: verify it after.")
        return redirect("replay", pk=job.pk)
    try:
        replay_verify.apply_async(kwargs={"job_id": job.pk}, queue=settings.CELERY_QUEUES["replay"])
    except Exception:  # noqa: BLE001 — any broker failure: say so rather than a 500
        messages.error(request, "The task queue is not reachable: try again in a moment.")
    else:
        messages.success(request, f"Verification of job #{job.pk} queued; this page shows it when done.")
    return redirect("replay", pk=job.pk)
