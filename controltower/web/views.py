"""Pages. Thin: authorise, call a selector or service, render (a partial for htmx requests)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from controltower.accounts import selectors as account_selectors
from controltower.accounts import services as account_services
from controltower.accounts.access import access_for, require_capability
from controltower.accounts.roles import Capability
from controltower.health.checks import readiness, worker_status
from controltower.masterdata import selectors as masterdata_selectors
from controltower.problems import PROBLEM_TYPES, is_api_request, problem_response
from controltower.web.htmx import page_or_partial
from integrations import selectors as integration_selectors


def status_context() -> dict[str, object]:
    """What the status panel shows: readiness checks and each queue's worker heartbeat."""
    return {"checks": readiness(), "queues": worker_status()}


@require_capability(Capability.VIEW)
def home(request: HttpRequest) -> HttpResponse:
    access = access_for(request.user)
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    context = {
        **status_context(),
        "counts": integration_selectors.network_counts(access=access, since=today),
        "roles": account_selectors.roles_of(user=request.user),
        "plant_count": masterdata_selectors.plants_visible(scope=access.scope).count(),
        "supplier_count": masterdata_selectors.suppliers_visible(scope=access.scope).count(),
    }
    return render(request, page_or_partial(request, "web/home.html", "status"), context)


@require_capability(Capability.VIEW)
def partners(request: HttpRequest) -> HttpResponse:
    scope = access_for(request.user).scope
    query = request.GET.get("q", "").strip()
    plants = masterdata_selectors.plants_visible(scope=scope)
    suppliers = masterdata_selectors.suppliers_visible(scope=scope)
    if query:
        match = Q(code__icontains=query) | Q(name__icontains=query) | Q(region__icontains=query)
        plants, suppliers = plants.filter(match), suppliers.filter(match)
    context = {"plants": plants, "suppliers": suppliers, "q": query}
    return render(request, page_or_partial(request, "web/partners.html", "tables"), context)


@require_capability(Capability.VIEW)
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    new_token = None
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:100]
        days_raw = request.POST.get("expires_days", "").strip()
        if not name:
            messages.error(request, "Give the token a name that says what it is for.")
        elif days_raw and (not days_raw.isdigit() or int(days_raw) > 3650):
            messages.error(request, "Expiry must be a number of days from 0 (never) to 3650.")
        else:
            expires_in = True if not days_raw else (timedelta(days=int(days_raw)) if int(days_raw) else None)
            _, new_token = account_services.personal_token_create(
                user=request.user, name=name, expires_in=expires_in
            )
    context = {"tokens": account_selectors.personal_tokens_of(user=request.user), "new_token": new_token}
    return render(request, "web/tokens.html", context)


@require_capability(Capability.VIEW)
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(account_selectors.personal_tokens_of(user=request.user), pk=token_id)
    account_services.personal_token_revoke(token=token)
    messages.success(request, f"Token {token.display_prefix}… revoked.")
    return redirect("tokens")


def problem_type(request: HttpRequest, slug: str) -> HttpResponse:
    """Documentation for each problem `type` URI our API returns."""
    if slug not in PROBLEM_TYPES:
        raise Http404
    title, meaning = PROBLEM_TYPES[slug]
    return render(request, "web/problem_type.html", {"slug": slug, "title": title, "meaning": meaning})


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return problem_response(slug="not-found", status=404, instance=request.get_full_path())
    return render(request, "404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return problem_response(
            slug="forbidden",
            status=403,
            detail=str(exception or "") or None,
            instance=request.get_full_path(),
        )
    return render(request, "403.html", {"reason": str(exception or "")}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return problem_response(slug="server-error", status=500, instance=request.get_full_path())
    return render(request, "500.html", status=500)
