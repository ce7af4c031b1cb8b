"""`/healthz` (the process answers) and `/readyz` (its dependencies answer)."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from controltower.accounts.access import access_for
from controltower.accounts.roles import Capability
from controltower.health.checks import readiness


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """200 or 503 for anyone (load balancers, `make run`); which check failed and why (hosts,
    ports, error text) only for a signed-in admin, since it maps the internals."""
    results = readiness()
    ready = all(result.ok for result in results)
    body: dict[str, object] = {"status": "ok" if ready else "unavailable"}
    if access_for(request.user).can(Capability.CONFIGURE):
        body["failed"] = [result.name for result in results if not result.ok]
        body["checks"] = {result.name: result.as_dict() for result in results}
    return JsonResponse(body, status=200 if ready else 503)
