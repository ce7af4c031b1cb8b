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
from controltower.web.htmx import page_or_partial
from integrations.delivery.selectors import deliveries_visible
from integrations.models import Event

PAGE_SIZE = 50
TIMELINE_PAGE = 100
TRACE_DELIVERIES = 100
# A blanket PO's trace names thousands of objects and carries thousands of hop reports: the page
# shows the first of each (the API lists them), so it renders in the same time as a small trace's.
OBJECTS_SHOWN = 12
HOPS_SHOWN = 100


@require_capability(Capability.VIEW)
def traces(request: HttpRequest) -> HttpResponse:
    access = access_for(request.user)
    query = request.GET.get("q", "").strip()
    queryset = (
        selectors.traces_search(query=query, access=access)
        if query
        else selectors.traces_visible(access=access)
    )
    filters = {name: request.GET.get(name, "") for name in ("flow", "plant", "supplier", "state")}
    if filters["state"]:
        queryset = queryset.filter(state=filters["state"])
    if filters["flow"]:
        queryset = queryset.filter(flow=filters["flow"])
    if filters["plant"]:
        queryset = queryset.filter(plant__code=filters["plant"])
    if filters["supplier"]:
        queryset = queryset.filter(supplier__code=filters["supplier"])
    order = request.GET.get("order", "-last_event_at")
    if order not in {"-last_event_at", "last_event_at", "-first_event_at", "-event_count"}:
        order = "-last_event_at"
    queryset = queryset.select_related("root", "plant", "supplier").order_by(order, "-id")
    if query and not request.htmx:
        only = list(queryset[:2])
        if len(only) == 1:  # a search that names one trace opens it
            return redirect("trace", pk=only[0].pk)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "q": query,
        "filters": filters,
        "order": order,
        "flows": Trace.Flow.choices,
        "states": Trace.State.choices,
        "plants": masterdata_selectors.plants_visible(scope=access.scope),
        "suppliers": masterdata_selectors.suppliers_visible(scope=access.scope),
    }
    return render(request, page_or_partial(request, "web/traces.html", "table"), context)


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
