"""Pages show times in the viewer's time zone; the API stays in UTC.

The browser names its zone in the `tz` cookie (set by `static/js/timezone.js`, IANA names like
`Europe/Berlin`); `ViewerTimezoneMiddleware` activates it for the request, so `|date` and forms
use it. Without a usable cookie, and always under `/api/`, times are UTC (the default zone).
The live consumer renders its sections in the same zone (`zone_named` on the socket's cookie).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

TZ_COOKIE = "tz"
# DRF renders datetimes in the active zone: the API's ISO 8601 times must stay UTC.
UTC_PATHS = ("/api/",)


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone `name` (a cookie's value), or None when it is missing or names no zone."""
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(unquote(name))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed, or a directory
        return None


class ViewerTimezoneMiddleware:
    """Activates the viewer's zone (the `tz` cookie) for pages; UTC for the API and by default."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = None if request.path.startswith(UTC_PATHS) else zone_named(request.COOKIES.get(TZ_COOKIE))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()  # a worker thread's next request starts from UTC
