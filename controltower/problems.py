"""RFC 9457 problem details: the one shape every API error takes.

A problem is `application/problem+json` with `type`, `title`, `status`, `detail`, `instance` and,
for input errors, `errors`: a list of `{"pointer": <JSON pointer>, "detail": <message>}` naming
each failing field. DRF exceptions, Django's 404/403/500 handlers on API paths and our own
services all go through here, so no client ever has to parse an HTML error page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# How long a client should wait while the database is unreachable (API and pages alike).
DATABASE_RETRY_AFTER_SECONDS = 5

# slug -> (title, what it means); /problems/<slug> documents each.
PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "validation-error": (
        "Your request is not valid",
        "One or more fields failed validation; `errors` lists each by JSON pointer.",
    ),
    "malformed-request": (
        "The request body could not be parsed",
        "The body is not well-formed for its content type (for example, broken JSON).",
    ),
    "not-authenticated": (
        "Authentication is required",
        "Send `Authorization: Bearer <token>` with a valid, unrevoked, unexpired token, or sign in.",
    ),
    "forbidden": (
        "You may not do this",
        "Your role or your plant/supplier scope does not allow this action on this resource.",
    ),
    "not-found": ("Not found", "Nothing exists at this address, or it is outside your scope."),
    "method-not-allowed": ("Method not allowed", "This address does not accept that HTTP method."),
    "unsupported-media-type": (
        "Unsupported content type",
        "Send the body with one of the content types this endpoint documents.",
    ),
    "not-acceptable": ("Not acceptable", "This endpoint answers in JSON."),
    "rate-limited": (
        "Too many requests",
        "The per-token rate limit was reached; retry after the `Retry-After` seconds.",
    ),
    "sign-in-locked": (
        "Sign-in locked for now",
        "Too many failed sign-ins for this account from this address (or from this address): wait the "
        "`Retry-After` seconds, or ask an admin to lift the lock.",
    ),
    "conflict": (
        "The state changed",
        "What you asked for no longer matches what the server holds (for example, the set a preview "
        "counted changed before the job started). Look again and resend.",
    ),
    "sandbox-outage": (
        "Sandbox target in outage",
        "A built-in sandbox receiver is set to simulate an outage; retry after `Retry-After` seconds.",
    ),
    "sandbox-injected-error": (
        "Sandbox target injected an error",
        "A built-in sandbox receiver answered with the error it is set to inject at its error rate.",
    ),
    "payload-too-large": ("Request body too large", "The body is over the configured size limit."),
    "service-unavailable": (
        "Temporarily unavailable",
        "A dependency (the database) could not be reached; nothing was stored. Retry after `Retry-After` seconds.",
    ),
    "server-error": (
        "Internal error",
        "Something failed on our side. It has been logged; what you sent was kept.",
    ),
}

_DRF_TYPES: list[tuple[type[Exception], str]] = [
    (drf_exceptions.ParseError, "malformed-request"),
    (drf_exceptions.ValidationError, "validation-error"),
    (drf_exceptions.NotAuthenticated, "not-authenticated"),
    (drf_exceptions.AuthenticationFailed, "not-authenticated"),
    (drf_exceptions.PermissionDenied, "forbidden"),
    (drf_exceptions.NotFound, "not-found"),
    (drf_exceptions.MethodNotAllowed, "method-not-allowed"),
    (drf_exceptions.UnsupportedMediaType, "unsupported-media-type"),
    (drf_exceptions.NotAcceptable, "not-acceptable"),
    (drf_exceptions.Throttled, "rate-limited"),
]


class Conflict(drf_exceptions.APIException):
    """409: the request is well-formed but the state it assumed has changed."""

    status_code = 409
    default_detail = "The state changed; look again and resend."
    default_code = "conflict"


_DRF_TYPES.append((Conflict, "conflict"))


def problem_type_uri(slug: str) -> str:
    return f"/problems/{slug}"


def problem_body(
    *,
    slug: str,
    status: int,
    detail: str | None = None,
    errors: Iterable[Mapping[str, str]] = (),
    instance: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    title = PROBLEM_TYPES.get(slug, (slug.replace("-", " ").capitalize(), ""))[0]
    body: dict[str, Any] = {"type": problem_type_uri(slug), "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    error_list = list(errors)
    if error_list:
        body["errors"] = error_list
    body.update(extra)
    return body


def problem_response(
    *, slug: str, status: int, headers: Mapping[str, str] | None = None, **fields: Any
) -> JsonResponse:
    """A plain Django response (for views outside DRF) carrying a problem."""
    response = JsonResponse(
        problem_body(slug=slug, status=status, **fields), status=status, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Flatten DRF's nested error detail into `{"pointer", "detail"}` items (RFC 6901 pointers)."""
    if isinstance(detail, Mapping):
        items: list[dict[str, str]] = []
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                items.extend(pointer_errors(value, prefix))
            else:
                items.extend(pointer_errors(value, f"{prefix}/{_escape_pointer_token(str(key))}"))
        return items
    if isinstance(detail, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in detail):
            return [{"pointer": prefix, "detail": str(item)} for item in detail]
        items = []
        for index, value in enumerate(detail):
            if value:  # DRF puts {} for list items that passed
                items.extend(pointer_errors(value, f"{prefix}/{index}"))
        return items
    return [{"pointer": prefix, "detail": str(detail)}]


def problem_exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    """DRF's exception handler, answering every error as a problem."""
    request = context.get("request")
    instance = request.get_full_path() if request is not None else None
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied(str(exc) or None)

    if isinstance(exc, DatabaseOperationalError):
        # Connections exhausted, failover, restart: transient, so say so and when to retry.
        logger.warning("Database unavailable at %s: %s", instance, exc)
        set_rollback()
        body = problem_body(slug="service-unavailable", status=503, instance=instance)
        return Response(
            body,
            status=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            content_type=PROBLEM_CONTENT_TYPE,
        )
    if not isinstance(exc, drf_exceptions.APIException):
        logger.exception("Unhandled API error at %s", instance, exc_info=exc)
        set_rollback()
        body = problem_body(slug="server-error", status=500, instance=instance)
        return Response(body, status=500, content_type=PROBLEM_CONTENT_TYPE)

    slug = next((s for cls, s in _DRF_TYPES if isinstance(exc, cls)), "server-error")
    headers: dict[str, str] = {}
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="controltower"'
    wait = getattr(exc, "wait", None)
    if wait is not None:
        headers["Retry-After"] = str(max(1, int(wait + 0.999)))

    if isinstance(exc, drf_exceptions.ValidationError):
        errors = pointer_errors(exc.detail)
        detail = f"{len(errors)} field(s) failed validation."
    else:
        errors = []
        detail = str(exc.detail) if not isinstance(exc.detail, list | dict) else None
        if isinstance(exc, drf_exceptions.ParseError):
            errors = [{"pointer": "", "detail": detail or "Malformed body."}]
    set_rollback()
    body = problem_body(slug=slug, status=exc.status_code, detail=detail, errors=errors, instance=instance)
    return Response(body, status=exc.status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")
