"""The htmx convention every page follows: one template per page, sections as partials."""

from __future__ import annotations

from django.http import HttpRequest


def page_or_partial(request: HttpRequest, page: str, partial: str) -> str:
    """The whole page, or only `partial` (`page#partial`) when htmx asks for that section.

    A history restore (Back to a URL htmx pushed, its snapshot gone) needs the whole page:
    given the section alone, the browser showed it without layout or styles.

    A live render (`controltower.web.live.render`) asks for the page's live sections instead:
    they are rendered together, from the context the view built once."""
    live_sections = getattr(request, "live_sections", None)
    if live_sections:
        request.live_partials = [f"{page}#{name}" for name in live_sections]
        return "web/_live_sections.html"
    if request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request:
        return f"{page}#{partial}"
    return page


def url_without(request: HttpRequest, *names: str) -> str:
    """This request's URL without the query parameters `names` (for `HX-Push-Url`)."""
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return f"{request.path}?{query.urlencode()}" if query else request.path
