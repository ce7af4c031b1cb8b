"""The request edge: input no database can hold, and a database that cannot be reached.

Both are answered here, once, for every page and API, so no view has to think of them:

- `UnstorableInputMiddleware`: a NUL character (U+0000) in a query parameter, a form field or a
  captured path parameter. PostgreSQL text cannot hold it, so any filter, lookup or save built
  from it fails deep inside the ORM as a 500. Nothing could ever match or store it, so it is
  refused up front: a 400 problem naming the parameter for the API, a 400 page in the site
  layout, showing what was sent, for a browser.
- `DatabaseUnavailableMiddleware`: a view that fails because the database is unreachable
  (restart, failover, connections exhausted) answers 503 + `Retry-After`, as a problem for the
  API and as a page in the site layout, rendered without the database (no user, no session, no
  navigation), instead of a plain 500. (DRF views answer theirs through the problem handler,
  with the same `Retry-After`.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from controltower.problems import DATABASE_RETRY_AFTER_SECONDS, is_api_request, problem_response

logger = logging.getLogger(__name__)

NUL = "\x00"
# Shown in place of the NUL on the page, so the visitor sees where it was.
NUL_SHOWN = "\u2400"
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
Field = tuple[str, str, str]


def _unstorable_fields(request: HttpRequest, view_func: Callable, view_kwargs: dict) -> Iterator[Field]:
    """(where, name, value) for each query parameter, path parameter or form field with a NUL."""
    for name, values in request.GET.lists():
        for value in values:
            if NUL in name or NUL in value:
                yield "query", name, value
    for name, value in view_kwargs.items():
        if isinstance(value, str) and NUL in value:
            yield "path", name, value
    # Forms posted by browsers, to CSRF-protected pages. Not the API (its parsers check its
    # bodies) nor csrf-exempt views that read their raw body (the sandbox receiver).
    if (
        request.method == "POST"
        and not is_api_request(request)
        and not getattr(view_func, "csrf_exempt", False)
        and request.content_type in FORM_CONTENT_TYPES
    ):
        for name, values in request.POST.lists():
            for value in values:
                if NUL in name or NUL in value:
                    yield "form", name, value


class UnstorableInputMiddleware:
    """Refuse a request carrying a NUL in a parameter (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable, view_args: tuple, view_kwargs: dict
    ) -> HttpResponse | None:
        fields = list(_unstorable_fields(request, view_func, view_kwargs))
        if not fields:
            return None
        detail = "Contains a NUL character (U+0000), which no value can hold. Remove it and send again."
        if is_api_request(request):
            return problem_response(
                slug="validation-error",
                status=400,
                detail=f"{len(fields)} parameter(s) failed validation.",
                errors=[{"pointer": f"/{name}", "detail": detail} for _, name, _ in fields],
                instance=request.path.replace(NUL, "%00"),
            )
        kept = [(name, value) for name, value in request.GET.items() if NUL not in name + value]
        context = {
            "fields": [
                {"where": where, "name": name.replace(NUL, NUL_SHOWN), "value": value.replace(NUL, NUL_SHOWN)}
                for where, name, value in fields
            ],
            "detail": detail,
            # Back to the same page without the parameters that cannot be used.
            "retry_url": "/"
            if NUL in request.path
            else request.path + (f"?{urlencode(kept)}" if kept else ""),
        }
        return render(request, "400.html", context, status=400)


class DatabaseUnavailableMiddleware:
    """Answer 503 + Retry-After when a view fails because the database cannot be reached."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError):
            return None
        logger.warning("Database unavailable at %s: %s", request.path, exception)
        headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
        if is_api_request(request):
            return problem_response(
                slug="service-unavailable", status=503, headers=headers, instance=request.get_full_path()
            )
        # No request context: its processors would look up the user and their access, in the
        # database that just failed.
        page = render_to_string("503.html", {"retry_after": DATABASE_RETRY_AFTER_SECONDS})
        return HttpResponse(page, status=503, headers=headers)
