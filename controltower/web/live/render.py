"""Rendering a page's live sections by calling the page's own view, as the page's user would.

The hub builds a GET request for the page's URL (path and query, so the page's filters apply),
marks it as asking for live sections, and calls the view. The view authorises and scopes exactly
as it does for the page itself, and `page_or_partial` answers with the live sections only. A view
that now refuses (403/404: the object left the user's scope) yields nothing to send.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory
from django.urls import Resolver404, resolve
from django.utils import timezone
from django_htmx.middleware import HtmxDetails

from controltower.web.live.pages import PAGES, LivePage

#: Stands for the CSRF token in a rendered section; each socket puts its own session's in.
CSRF_PLACEHOLDER = "__live_csrf_token__"
TEMPLATE = "web/_live_sections.html"


def live_page_for(path: str) -> tuple[LivePage, dict] | None:
    """The live page at `path` (a local path with query) and its URL kwargs, or None."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    # By the full view name: an API route of the same name (`api-v1:delivery`) is no live page.
    page = PAGES.get(match.view_name or "")
    return (page, match.kwargs) if page else None


def render_sections(*, user, path: str, page: LivePage, zone, host: str) -> str | None:
    request = RequestFactory().get(path, HTTP_HX_REQUEST="true", HTTP_HOST=host or "localhost")
    request.user = user
    request.htmx = HtmxDetails(request)
    request.live_sections = page.sections
    match = resolve(urlsplit(path).path)
    with timezone.override(zone):
        try:
            response = match.func(request, *match.args, **match.kwargs)
        except (Http404, PermissionDenied):  # raised, not answered: no middleware turns them
            return None  # into responses here, and neither is an error, only nothing to send
        if response.status_code != 200:
            return None
        if hasattr(response, "render"):
            response.render()
    return response.content.decode()


def live_context(request) -> dict:
    """Context processor: what `web/_live_sections.html` and the sections need in a live render."""
    partials = getattr(request, "live_partials", None)
    if not partials:
        return {}
    return {"live_partials": partials, "oob": True, "csrf_token": CSRF_PLACEHOLDER}
