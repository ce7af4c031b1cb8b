"""Delivery pages: the deliveries list, one delivery with its lineage, and the targets.

Bulk work (dead letters, replay jobs) is in `replay_views`. Every queryset of deliveries starts
from `deliveries_visible`, so scope applies to lists, pages, counts and actions alike; actions
need the operate permission and only ever call an `integrations.delivery` service (which
queues Celery work — nothing is delivered in the web request).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from controltower.accounts.access import Access, access_for, require_capability
from controltower.accounts.roles import Capability
from controltower.masterdata import selectors as masterdata_selectors
from controltower.traces.selectors import traces_visible
from controltower.web.htmx import page_or_partial
from controltower.web.pinning import pinned_page, pinned_urls
from integrations.contracts import contracts_all
from integrations.delivery.models import Delivery, Target
from integrations.delivery.selectors import (
    FINAL,
    DeliveryQuery,
    QueryError,
    deliveries_filtered,
    deliveries_visible,
    delivery_attempts,
    targets_all,
)
from integrations.delivery.services.jobs import delivery_retry
from integrations.delivery.services.pausing import target_pause, target_resume
from integrations.delivery.services.policy import ERROR_CLASSES

PAGE_SIZE = 50
ATTEMPT_PAGE = 100
QUERY_FIELDS = ("target", "status", "type", "plant", "supplier", "error_class", "since", "until")
FIELD_LABELS = {
    "target": "Target",
    "status": "Status",
    "type": "Event type",
    "plant": "Plant",
    "supplier": "Supplier",
    "error_class": "Error class",
    "since": "From",
    "until": "Until",
    "reason": "Reason",
    "kind": "Kind",
    "as_of": "Preview time",
    "expected_count": "Previewed count",
    "delivery": "Delivery",
}
TIME_HELP = "An ISO 8601 date-time, e.g. 2026-11-27T08:00 (your time zone) or 2026-11-27T08:00+01:00."


# --- helpers shared with replay_views ---------------------------------------------------------
def delivery_query(raw: Mapping[str, Any], fields: tuple[str, ...] = QUERY_FIELDS) -> DeliveryQuery:
    """`DeliveryQuery.parse` for form input (only `fields` are read).

    Forms say times are in the page's time zone (the viewer's, else UTC), so a date-time
    without an offset is taken in it; a well-formed
    but impossible one (month 13) is a `QueryError` naming the field, like any other bad value.
    """
    values: dict[str, Any] = {name: raw.get(name, "") for name in fields}
    for name in ("since", "until"):
        value = (values.get(name) or "").strip()
        if not value:
            continue
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise QueryError(name, TIME_HELP)
        # Without an offset, in the zone the page shows times in (the viewer's, else UTC).
        values[name] = (parsed if parsed.tzinfo else timezone.make_aware(parsed)).isoformat()
    error_class = (values.get("error_class") or "").strip()
    if error_class and error_class not in ERROR_CLASSES:
        raise QueryError("error_class", f"One of {', '.join(ERROR_CLASSES)}.")
    return DeliveryQuery.parse(values)


def query_error(error: QueryError) -> dict[str, str]:
    return {"field": error.field, "label": FIELD_LABELS.get(error.field, error.field), "detail": error.detail}


def raw_filters(raw: Mapping[str, Any], fields: tuple[str, ...] = QUERY_FIELDS) -> dict[str, str]:
    """The filter values as typed, to fill the form in again."""
    return {name: str(raw.get(name, "")).strip() for name in fields}


def list_query(filters: Mapping[str, str]) -> QueryDict:
    """The non-empty filters as a query, for pagination links (whatever the request carried)."""
    query = QueryDict(mutable=True)
    query.update({name: value for name, value in filters.items() if value})
    return query


def filter_choices(access: Access) -> dict[str, object]:
    return {
        "targets": targets_all(),
        "statuses": Delivery.Status.choices,
        "types": sorted({contract.type for contract in contracts_all()}),
        "plants": masterdata_selectors.plants_visible(scope=access.scope),
        "suppliers": masterdata_selectors.suppliers_visible(scope=access.scope),
        "error_classes": ERROR_CLASSES,
    }


def form_status(request: HttpRequest, status: int) -> int:
    """A refused form answers 4xx to a plain request; htmx gets 200, since htmx does not swap
    error responses in and the message must show where the form is."""
    return 200 if request.htmx else status


def listed(queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
    """Lists show no payload: join what the rows show, not the event's body."""
    return queryset.select_related(None).select_related("target", "plant", "supplier")


def status_counts(rows: QuerySet[Delivery]) -> dict[str, Any]:
    """How many of `rows` are in each status (a list's header), and in all."""
    found = dict(rows.order_by().values_list("status").annotate(n=Count("id")))
    return {
        "states": [(value, label, found.get(value, 0)) for value, label in Delivery.Status.choices],
        "total": sum(found.values()),
    }


# --- pages ------------------------------------------------------------------------------------
@require_capability(Capability.VIEW)
def deliveries(request: HttpRequest) -> HttpResponse:
    """The deliveries list, live: its rows are pinned (see `controltower.web.pinning`), the
    counts per status in its header are those of the filters (but the status) as of now."""
    access = access_for(request.user)
    visible = listed(deliveries_visible(access=access))
    error, query = None, None
    try:
        query = delivery_query(request.GET)
    except QueryError as exc:
        error = query_error(exc)
    rows = visible.none() if query is None else deliveries_filtered(visible, query)
    any_status = visible.none() if query is None else deliveries_filtered(visible, replace(query, status=""))
    pinned = pinned_page(rows, raw=request.GET, per_page=PAGE_SIZE)
    filters = raw_filters(request.GET)
    list_url = reverse("deliveries")
    context = {
        "page": pinned.page,
        "pinned": pinned,
        "counts": status_counts(any_status),
        "filters": filters,
        "list_url": list_url,
        **pinned_urls(list_url=list_url, filters=filters, pinned=pinned),
        "error": error,
    }
    template = page_or_partial(request, "web/deliveries.html", "table")
    if template == "web/deliveries.html":
        context |= filter_choices(access)  # the filter form, shown with the whole page only
    return render(request, template, context, status=form_status(request, 400) if error else 200)


@require_capability(Capability.VIEW)
def delivery(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_for(request.user)
    found = get_object_or_404(
        deliveries_visible(access=access).select_related("subscription", "event__system", "job__created_by"),
        pk=pk,
    )
    attempts = Paginator(delivery_attempts(delivery=found), ATTEMPT_PAGE).get_page(request.GET.get("page"))
    url = reverse("delivery", kwargs={"pk": found.pk})
    context = {
        "delivery": found,
        "attempts": attempts,
        "can_recover": access.can(Capability.RECOVER),
        "can_retry": found.status in FINAL,
        "list_query": QueryDict(),
        "list_url": url,
        # The live socket follows the attempts' page (paging does not change the URL).
        "live_page": f"{url}?page={attempts.number}" if attempts.number > 1 else url,
    }
    template = page_or_partial(request, "web/delivery.html", "attempts")
    if "#" not in template:  # the whole page, or its live sections
        context["jobs"] = found.replay_items.select_related("job__created_by", "job__cancelled_by").order_by(
            "-id"
        )
    if template == "web/delivery.html":
        context |= {
            "traces": list(traces_visible(access=access).filter(memberships__event_id=found.event_id)[:5]),
            "payload": (
                json.dumps(found.event.as_cloudevent(), indent=2, ensure_ascii=False)
                if access.can(Capability.VIEW_PAYLOADS)
                else None
            ),
        }
    return render(request, template, context)


@require_capability(Capability.RECOVER)
@require_POST
def delivery_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Retry one delivery (a delivered one is sent again with the same Idempotency-Key) as a job."""
    found = get_object_or_404(deliveries_visible(access=access_for(request.user)), pk=pk)
    reason = request.POST.get("reason", "").strip()
    if found.status not in FINAL:
        messages.error(request, f"This delivery is {found.get_status_display().lower()}: it is going anyway.")
        return redirect("delivery", pk=found.pk)
    if not reason:
        messages.error(request, "Say why (it is kept with the job).")
        return redirect("delivery", pk=found.pk)
    job = delivery_retry(delivery=found, user=request.user, reason=reason)
    messages.success(request, f"Job #{job.pk} queued: delivery {found.pk} goes to {found.target.code} again.")
    return redirect("replay", pk=job.pk)


@require_capability(Capability.VIEW)
def targets(request: HttpRequest) -> HttpResponse:
    access = access_for(request.user)
    rows = targets_all()
    show = request.GET.get("show", "")
    if show == "paused":
        rows = rows.filter(paused=True)
    elif show == "circuit":
        rows = rows.exclude(circuit=Target.Circuit.CLOSED)
    elif show == "sandbox":
        rows = rows.filter(sandbox=True)
    elif show == "real":
        rows = rows.filter(sandbox=False)
    else:
        show = ""
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    counts: dict[int, dict[str, int]] = {target.pk: {} for target in page}
    by_status = (
        deliveries_visible(access=access)
        .filter(target_id__in=list(counts))
        .order_by()
        .values("target_id", "status")
        .annotate(n=Count("id"))
    )
    for row in by_status:
        counts[row["target_id"]][row["status"]] = row["n"]
    context = {
        "page": page,
        "rows": [
            {
                "target": target,
                "counts": [
                    (value, label, counts[target.pk].get(value, 0))
                    for value, label in Delivery.Status.choices
                ],
                "any": bool(counts[target.pk]),
                # What waits to be sent (pending, retrying, parked while paused): grows live while
                # the target is paused and events keep coming.
                "backlog": sum(n for status, n in counts[target.pk].items() if status not in FINAL),
                "draining": bool(target.draining_until and target.draining_until > now),
            }
            for target in page
        ],
        "show": show,
        "list_query": list_query({"show": show}),
        "list_url": reverse("targets"),
        "can_operate": access.can(Capability.OPERATE),
    }
    return render(request, page_or_partial(request, "web/targets.html", "table"), context)


@require_capability(Capability.OPERATE)
@require_POST
def target_pause_view(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(targets_all(), pk=pk)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, f"Say why {target.code} is paused (e.g. the ERP maintenance window).")
    elif target_pause(target=target, user=request.user, reason=reason):
        messages.success(request, f"{target.code} paused: new deliveries wait until it is resumed.")
    else:
        messages.error(request, f"{target.code} was paused already.")
    return redirect("targets")


@require_capability(Capability.OPERATE)
@require_POST
def target_resume_view(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(targets_all(), pk=pk)
    if target_resume(target=target, user=request.user):
        messages.success(request, f"{target.code} resumed: what waited is drained in order.")
    else:
        messages.error(request, f"{target.code} was not paused.")
    return redirect("targets")
