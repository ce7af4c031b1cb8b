"""Trace pages: search and list, and one trace's objects and timeline."""

from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from controltower.accounts.access import access_for, require_capability
from controltower.accounts.roles import Capability
from controltower.masterdata import selectors as masterdata_selectors
from controltower.traces import selectors
from controltower.traces.models import Trace, TraceEvent
from controltower.web.htmx import page_or_partial, url_without
from integrations.delivery.selectors import deliveries_visible
from integrations.models import Event

PAGE_SIZE = 50
# A live update refreshes the state of this many of the list's most recently updated traces:
# far more than change between two updates (a few a second), so none the reader holds is missed.
LIVE_ROWS = 50
TIMELINE_PAGE = 100
TRACE_DELIVERIES = 100
# A blanket PO's trace names thousands of objects and carries thousands of hop reports: the page
# shows the first of each (the API lists them), so it renders in the same time as a small trace's.
OBJECTS_SHOWN = 12
HOPS_SHOWN = 100


@require_capability(Capability.VIEW)
def traces(request: HttpRequest) -> HttpResponse:
    """The traces list, and its live sections (counts, the "N new" bar, the rows' states).

    The list shows the traces that existed when it was first shown: `upto` in its URL is the
    highest trace id then (ids grow in commit order: correlation writes traces one transaction
    at a time). Without it, the list starts now and the URL gets it (`data-live-url`, or
    `HX-Push-Url` for a filter change). So a live render, which calls this view with the page's
    URL, knows which rows the reader holds: it never adds or reorders rows under the reader's
    eyes, it counts the newer ones in the bar and refreshes the state of rows that changed.
    """
    access = access_for(request.user)
    query = request.GET.get("q", "").strip()
    queryset = (
        selectors.traces_search(query=query, access=access)
        if query
        else selectors.traces_visible(access=access)
    )
    filters = {name: request.GET.get(name, "") for name in ("flow", "plant", "supplier", "state")}
    if filters["flow"]:
        queryset = queryset.filter(flow=filters["flow"])
    if filters["plant"]:
        queryset = queryset.filter(plant__code=filters["plant"])
    if filters["supplier"]:
        queryset = queryset.filter(supplier__code=filters["supplier"])
    any_state = queryset  # the header counts each state within the other filters
    if filters["state"]:
        queryset = queryset.filter(state=filters["state"])
    order = request.GET.get("order", "-last_event_at")
    if order not in {"-last_event_at", "last_event_at", "-first_event_at", "-event_count"}:
        order = "-last_event_at"
    queryset = queryset.select_related("root", "plant", "supplier").order_by(order, "-id")
    if query and not request.htmx:
        only = list(queryset[:2])
        if len(only) == 1:  # a search that names one trace opens it
            return redirect("trace", pk=only[0].pk)
    upto = _upto(request)
    if upto is None:
        upto = selectors.trace_newest_id()
    context = {
        "q": query,
        "filters": filters,
        "order": order,
        "upto": upto,
        "counts": _state_counts(request, any_state),
        "fresh": queryset.filter(pk__gt=upto).count(),
        "show_url": url_without(request, "upto", "page"),
        "live_url": _with_upto(request, upto),
    }
    if getattr(request, "live_sections", None):
        # The rows the reader may hold whose state changed lately: the most recently updated
        # of the list's traces (any state: a row leaving the filtered state shows its new one).
        shown = any_state.filter(pk__lte=upto).select_related(None)
        context["live_rows"] = shown.order_by("-updated_at", "-id")[:LIVE_ROWS]
    else:
        context |= {
            "page": Paginator(queryset.filter(pk__lte=upto), PAGE_SIZE).get_page(request.GET.get("page")),
            "flows": Trace.Flow.choices,
            "states": Trace.State.choices,
            "plants": masterdata_selectors.plants_visible(scope=access.scope),
            "suppliers": masterdata_selectors.suppliers_visible(scope=access.scope),
        }
    response = render(request, page_or_partial(request, "web/traces.html", "table"), context)
    if request.htmx and "upto" not in request.GET and not getattr(request, "live_sections", None):
        response["HX-Push-Url"] = context["live_url"]  # a filter change starts the list afresh
    return response


def _upto(request: HttpRequest) -> int | None:
    value = request.GET.get("upto", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def _with_upto(request: HttpRequest, upto: int) -> str:
    query = request.GET.copy()
    query["upto"] = str(upto)
    return f"{request.path}?{query.urlencode()}"


def _state_counts(request: HttpRequest, queryset) -> list[dict]:
    """Each state's number of traces (as they are now) and the link listing them."""
    counts = selectors.traces_count_by_state(queryset)
    query = request.GET.copy()
    for name in ("page", "upto", "state"):
        query.pop(name, None)
    links = []
    for value, label in Trace.State.choices:
        query["state"] = value
        links.append(
            {
                "state": value,
                "label": label,
                "count": counts.get(value, 0),
                "url": f"{request.path}?{query.urlencode()}",
            }
        )
    return links


@require_capability(Capability.VIEW)
def trace(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_for(request.user)
    found = get_object_or_404(selectors.traces_visible(access=access), pk=pk)
    events = selectors.trace_events(trace=found, telemetry=False)
    page = Paginator(events, TIMELINE_PAGE).get_page(request.GET.get("page"))
    template = page_or_partial(request, "web/trace.html", "timeline")
    whole_page = "#" not in template  # the timeline's later pages swap only the timeline
    # The hops section shows the trace's first hop reports. The timeline's middleware column
    # needs its page's events' hops: those are among the section's unless it was cut short.
    hops = selectors.trace_hops(trace=found, limit=HOPS_SHOWN) if whole_page else []
    hop_reports = sum(len(message.hops) for message in hops)
    page_hops = hops
    if not whole_page or hop_reports >= HOPS_SHOWN:
        page_hops = selectors.trace_hops(trace=found, message_ids=[event.event_id for event in page])
    hops_by_message = {message.message_id: message for message in page_hops}
    payloads = access.can(Capability.VIEW_PAYLOADS)
    timeline = [
        {
            "event": event,
            "lag": (event.received_at - event.event_time).total_seconds()
            if event.event_time and event.time_basis != Event.TimeBasis.RECEIPT
            else None,
            "data": json.dumps(event.data, indent=2, ensure_ascii=False) if payloads else None,
            "hops": hops_by_message.get(event.event_id),
        }
        for event in page
    ]
    context = {
        "trace": found,
        "page": page,
        "timeline": timeline,
        "payloads": payloads,
    }
    if whole_page:
        object_keys = selectors.trace_object_keys(trace=found)
        business_events = page.paginator.count
        context |= {
            # The trace's events are its timeline's business events plus the middleware's
            # reports of carrying them (shown as hops): say so, or "Events 14" beside 8 rows reads wrong.
            "business_events": business_events,
            "middleware_hops": max(found.event_count - business_events, 0),
            "objects": [
                {"kind": kind, "keys": keys[:OBJECTS_SHOWN], "more": max(len(keys) - OBJECTS_SHOWN, 0)}
                for kind, keys in selectors.trace_objects(trace=found, object_keys=object_keys).items()
            ],
            "milestones": found.milestones.order_by("position"),
            "hops": hops,
            "hops_shown": HOPS_SHOWN,
            "hop_reports": hop_reports,
            "rejected": selectors.trace_rejected_messages(
                trace=found, access=access, object_keys=object_keys
            ),
            "deliveries": trace_deliveries(trace=found, access=access),
            "deliveries_limit": TRACE_DELIVERIES,
        }
    return render(request, template, context)


def trace_deliveries(*, trace: Trace, access) -> list:
    """The latest deliveries of the trace's events to target systems, within scope (one more
    than shown, so the page can say there are more)."""
    members = TraceEvent.objects.filter(trace=trace).values("event_id")
    visible = deliveries_visible(access=access).select_related(None).select_related("target")
    return list(visible.filter(event_id__in=members)[: TRACE_DELIVERIES + 1])
