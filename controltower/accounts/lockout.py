"""Sign-in throttling on top of django-axes: a limit per lockout parameter, and our own answer.

Axes counts failed sign-ins per combination of `AXES_LOCKOUT_PARAMETERS` (here: username + IP
address, and IP address alone) but compares every combination with one limit. Guessing one
person's password from one address must stop after a handful of tries, while an office behind
one address must not be locked out by a few people mistyping; so each combination gets its own
limit (`LOGIN_LOCKOUT_LIMITS`), and the handler reports failures on the scale Axes compares.

Locked-out sign-ins are answered with the project's page (429 + Retry-After), or an RFC 9457
problem for API and XHR callers. Admins see attempts and lockouts in the admin (Axes' models)
and lift them there (deleting the attempts) or with `manage.py axes_reset_username USER` /
`axes_reset_ip ADDRESS` / `axes_reset`.

Each lockout, and each lifting of one, is also written to our own audit log (`signin.lockout`,
`signin.unlock`) with the username tried and the client address (never the password), so the
one log that says who changed what also says who was locked out, and who let them back in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from controltower.audit.services import audit_record
from controltower.problems import problem_response

#: Who lifted a lock with one of Axes' `axes_reset*` commands (no signed-in user there).
COMMAND_LINE = "manage.py (command line)"


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

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        """Axes' failure handling; and when this failure is the one that locks, an audit entry.
        (A sign-in refused because it was locked already is no new lockout.)"""
        if request is None:
            return super().user_login_failed(sender, credentials, request=request, **kwargs)
        # Counted before this failure (expired attempts first dropped, as Axes does next): the
        # request's own `axes_locked_out` flag cannot tell, the login view does not keep it.
        self.clean_expired_user_attempts(request, credentials)
        locked_before = self.is_locked(request, credentials)
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if getattr(request, "axes_locked_out", False) and not locked_before:
            lockout_audit(
                username=get_client_username(request, credentials) or "",
                address=getattr(request, "axes_ip_address", None) or "",
            )

    def reset_attempts(self, *, ip_address=None, username=None, ip_or_username: bool = False) -> int:
        """What Axes' `axes_reset*` commands call: the locks they lift are audited too."""
        attempts = AccessAttempt.objects.all()
        if ip_or_username:
            attempts = attempts.filter(Q(ip_address=ip_address) | Q(username=username))
        else:
            attempts = attempts.filter(
                **{k: v for k, v in (("ip_address", ip_address), ("username", username)) if v}
            )
        unlock_audit(actor=COMMAND_LINE, attempts=list(attempts))
        return super().reset_attempts(ip_address=ip_address, username=username, ip_or_username=ip_or_username)


def _account(username: str):
    """The user a sign-in named; an unsaved one (no id) when no account has that name."""
    model = get_user_model()
    return model.objects.filter(username=username).first() or model(username=username)


def lockout_audit(*, username: str, address: str) -> None:
    """Record that sign-ins as `username` (tried; may name no account) from `address` are locked."""
    cool_off = get_cool_off()
    minutes = int(cool_off.total_seconds() // 60) if cool_off else None
    audit_record(
        actor="sign-in throttling",
        action="signin.lockout",
        obj=_account(username),
        summary=f"Sign-in locked for {username!r} from {address}"
        + (f" for {minutes} minutes" if minutes else ""),
        details={"username": username, "address": address, "minutes": minutes},
    )


def unlock_audit(*, actor, attempts: Iterable[AccessAttempt]) -> None:
    """Record that `actor` (an admin, or COMMAND_LINE) lifted the locks of `attempts`: one entry
    per username and address among them that was locked (failures below the limits lock nothing)."""
    failures: dict[tuple[str, str], int] = defaultdict(int)
    per_address: dict[str, int] = defaultdict(int)
    for attempt in attempts:
        failures[(attempt.username or "", attempt.ip_address or "")] += attempt.failures_since_start
        per_address[attempt.ip_address or ""] += attempt.failures_since_start
    for (username, address), count in sorted(failures.items()):
        if count < limit_for(["username", "ip_address"]) and per_address[address] < limit_for("ip_address"):
            continue
        audit_record(
            actor=actor,
            action="signin.unlock",
            obj=_account(username),
            summary=f"Sign-in unlocked for {username!r} from {address}",
            details={"username": username, "address": address, "failures": count},
        )


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
