"""Sign-in throttling on top of django-axes: a limit per lockout parameter, and our own answer.

Axes counts failed sign-ins per combination of `AXES_LOCKOUT_PARAMETERS` (here: username + IP
address, and IP address alone) but compares every combination with one limit. Guessing one
person's password from one address must stop after a handful of tries, while an office behind
one address must not be locked out by a few people mistyping; so each combination gets its own
limit (`LOGIN_LOCKOUT_LIMITS`), and the handler reports failures on the scale Axes compares.

Locked-out sign-ins are answered with the project's page (429 + Retry-After), or an RFC 9457
problem for API and XHR callers. Admins see attempts and lockouts in the admin (Axes' models)
and lift them with `manage.py axes_reset_username USER` / `axes_reset_ip ADDRESS` / `axes_reset`.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from controltower.problems import problem_response


class LockoutBackend(AxesStandaloneBackend):
    """Axes' backend (first in AUTHENTICATION_BACKENDS): refuses a locked-out sign-in.

    Every sign-in over HTTP passes its request (Django's login views and the admin's do); a
    call without one (a shell, the test client's `login()`) has no address to count failures
    by, so it is left to the next backend instead of failing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_address(request: HttpRequest) -> str | None:
    """The address a sign-in came from: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the
    address the outermost of them saw (X-Forwarded-For read from the right; entries further
    left are whatever the client claimed and are ignored)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(forwarded) >= proxies and forwarded[-proxies]:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def limit_for(parameter: str | list[str]) -> int:
    """The failure limit of one lockout parameter (a name, or a list of names combined)."""
    key = parameter if isinstance(parameter, str) else "+".join(parameter)
    return settings.LOGIN_LOCKOUT_LIMITS[key]


class PerParameterLimitHandler(AxesDatabaseHandler):
    """Axes' database handler, with a failure limit of its own for each lockout parameter."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        """Failures of the combination closest to its own limit, scaled to AXES_FAILURE_LIMIT.

        Axes locks out when this reaches AXES_FAILURE_LIMIT (at sign-in and at each failure),
        so a combination locks exactly when its own count reaches its own limit."""
        base = settings.AXES_FAILURE_LIMIT
        scaled = 0
        for parameter, attempts in zip(
            settings.AXES_LOCKOUT_PARAMETERS, self.get_user_attempts(request, credentials), strict=True
        ):
            failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            scaled = max(scaled, failures * base // limit_for(parameter))
        return scaled


def lockout_response(
    request: HttpRequest, original_response=None, credentials: dict | None = None
) -> HttpResponse:
    """What a locked-out sign-in gets: 429 with Retry-After, as a page or a problem."""
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else None
    headers = {"Retry-After": str(seconds)} if seconds else {}
    detail = (
        f"Too many failed sign-ins from this address. Try again in {seconds // 60 or 1} minutes, "
        "or ask an admin to lift the lock."
        if seconds
        else "Too many failed sign-ins from this address. Ask an admin to lift the lock."
    )
    wants_json = (
        request.path.startswith("/api/") or request.headers.get("X-Requested-With") == "XMLHttpRequest"
    )
    if wants_json:
        return problem_response(slug="sign-in-locked", status=429, headers=headers, detail=detail)
    response = render(
        request,
        "registration/locked_out.html",
        {"detail": detail, "username": get_client_username(request, credentials) or ""},
        status=429,
    )
    for name, value in headers.items():
        response[name] = value
    return response
