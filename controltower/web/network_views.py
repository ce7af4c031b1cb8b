"""Pages about the integration network: systems, the contract catalog, rejected messages."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from controltower.accounts.access import access_for, require_capability
from controltower.accounts.roles import Capability
from controltower.traces.selectors import traces_visible
from controltower.web.htmx import page_or_partial
from integrations import selectors
from integrations.contracts import contracts_all
from integrations.contracts.identifiers import identifier_specs
from integrations.delivery.models import Resubmission
from integrations.delivery.selectors import QueryError
from integrations.delivery.services.resubmission import rejected_resubmit
from integrations.models import SourceSystem

PAGE_SIZE = 50


@require_capability(Capability.VIEW)
def systems(request: HttpRequest) -> HttpResponse:
    """Each system with when it was last heard from and its recent rates (live: `SYSTEM_CHANGED`)."""
    access = access_for(request.user)
    rows = selectors.systems_with_activity(access=access)
    kind = request.GET.get("kind", "")
    if kind:
        rows = rows.filter(kind=kind)
    window_minutes = int(selectors.ACTIVITY_WINDOW.total_seconds() // 60)
    context = {
        "systems": [_system_row(system, window_minutes) for system in rows],
        "window_minutes": window_minutes,
        "kind": kind,
        "kinds": SourceSystem.Kind.choices,
        # Only those who configure the network can onboard a system; others are told whom to ask.
        "can_configure": access.can(Capability.CONFIGURE),
    }
    return render(request, page_or_partial(request, "web/systems.html", "table"), context)


def _system_row(system: SourceSystem, window_minutes: int) -> dict:
    seen = [at for at in (system.last_event_at, system.last_rejected_at) if at is not None]
    offered = system.recent_events + system.recent_rejected
    return {
        "system": system,
        "last_seen": max(seen, default=None),
        "per_minute": system.recent_events / window_minutes,
        "error_percent": 100 * system.recent_rejected / offered if offered else None,
    }


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
    """Refused messages, newest first; new ones and resubmission outcomes appear live."""
    queryset = selectors.rejected_messages_listed(access=access_for(request.user))
    system = request.GET.get("system", "")
    if system:
        queryset = queryset.filter(system__code=system)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "system": system}
    return render(request, page_or_partial(request, "web/rejected_list.html", "table"), context)


@require_capability(Capability.VIEW)
@require_http_methods(["GET", "POST"])
def rejected_message(request: HttpRequest, pk: int) -> HttpResponse:
    """A refused message as received; operators fix and resubmit it here (POST), and every
    resubmission is listed with what it became (an event, or a new refusal), live."""
    access = access_for(request.user)
    rejected = get_object_or_404(selectors.rejected_messages_visible(access=access), pk=pk)
    pretty = None
    if access.can(Capability.VIEW_PAYLOADS):
        pretty = rejected.body_pretty
    form = {"body": pretty or "", "reason": "", "error": None}
    if request.method == "POST":
        access.require(Capability.RECOVER)
        form = {"body": request.POST.get("body", ""), "reason": request.POST.get("reason", ""), "error": None}
        try:
            resubmission = rejected_resubmit(
                rejected=rejected, body=form["body"], reason=form["reason"], user=request.user
            )
        except QueryError as error:
            form["error"] = {"field": error.field, "detail": error.detail}
        else:
            messages.success(request, f"Resubmission {resubmission.pk} queued: it goes through intake again.")
            return redirect("rejected-message", pk=rejected.pk)
    context = {
        "rejected": rejected,
        "pretty_body": pretty,
        "form": form,
        "can_resubmit": access.can(Capability.RECOVER) and rejected.system_id is not None,
        "resubmissions": [
            {"resubmission": item, "trace": _trace_of(item.event_id, access)}
            for item in rejected.resubmissions.select_related("created_by", "event", "rejected_again")
        ],
        "resubmission_of": Resubmission.objects.filter(rejected_again=rejected)
        .select_related("original")
        .first(),
    }
    template = page_or_partial(request, "web/rejected_detail.html", "resubmissions")
    return render(request, template, context, status=400 if form["error"] else 200)


def _trace_of(event_pk: int | None, access):
    """A visible trace the event (of a resubmission) joined, if any yet."""
    if event_pk is None:
        return None
    return traces_visible(access=access).filter(memberships__event_id=event_pk).first()
