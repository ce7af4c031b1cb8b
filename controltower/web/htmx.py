"""The htmx convention every page follows: one template per page, sections as partials."""

from __future__ import annotations

from django.http import HttpRequest


def page_or_partial(request: HttpRequest, page: str, partial: str) -> str:
    """The whole page, or only `partial` (`page#partial`) when htmx asks for that section."""
    return f"{page}#{partial}" if request.htmx and not request.htmx.boosted else page
