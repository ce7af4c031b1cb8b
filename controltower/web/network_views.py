"""Pages about the integration network: systems, the contract catalog, rejected messages."""

from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from controltower.accounts.access import access_for, require_capability
from controltower.accounts.roles import Capability
from controltower.web.htmx import page_or_partial
from integrations import selectors
from integrations.contracts import contracts_all
from integrations.contracts.identifiers import identifier_specs

PAGE_SIZE = 50


@require_capability(Capability.VIEW)
def systems(request: HttpRequest) -> HttpResponse:
    access = access_for(request.user)
    rows = selectors.systems_visible(access=access).annotate(
        event_count=Count("events", distinct=True), last_event_at=Max("events__received_at")
    )
    kind = request.GET.get("kind", "")
    if kind:
        rows = rows.filter(kind=kind)
    context = {"systems": rows, "kind": kind, "kinds": rows.model.Kind.choices}
    return render(request, page_or_partial(request, "web/systems.html", "table"), context)


@require_capability(Capability.VIEW)
def contracts(request: HttpRequest) -> HttpResponse:
    catalog = [
        {
            "contract": contract,
            "identifiers": identifier_specs(contract.identifiers),
            "example": json.dumps(contract.example, indent=2),
            "schema": json.dumps(contract.schema, indent=2),
        }
        for contract in contracts_all()
    ]
    return render(request, "web/contracts.html", {"catalog": catalog})


@require_capability(Capability.VIEW)
def rejected_messages(request: HttpRequest) -> HttpResponse:
    queryset = selectors.rejected_messages_visible(access=access_for(request.user))
    system = request.GET.get("system", "")
    if system:
        queryset = queryset.filter(system__code=system)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "system": system}
    return render(request, page_or_partial(request, "web/rejected_list.html", "table"), context)


@require_capability(Capability.VIEW)
def rejected_message(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_for(request.user)
    rejected = get_object_or_404(selectors.rejected_messages_visible(access=access), pk=pk)
    pretty = None
    if access.can(Capability.VIEW_PAYLOADS):
        body = rejected.body_text
        try:
            pretty = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        except ValueError:
            pretty = body
    return render(request, "web/rejected_detail.html", {"rejected": rejected, "pretty_body": pretty})
