"""The header navigation: each entry shows only to users who hold its capability.

Apps add their pages here as they arrive (traces, exceptions, dashboards, systems), so the
header never links to a page that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from controltower.accounts.access import access_for
from controltower.accounts.roles import Capability
from exceptions.selectors import cases_needing_work_count


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    capability: Capability
    #: A number shown beside the label (what waits there for this user), if any.
    count: Callable | None = None


def _cases_needing_work(access) -> int:
    return cases_needing_work_count(access=access)


NAV_ENTRIES: list[NavEntry] = [
    NavEntry("Overview", "home", Capability.VIEW),
    NavEntry("Exceptions", "cases", Capability.VIEW, count=_cases_needing_work),
    NavEntry("Traces", "traces", Capability.VIEW),
    NavEntry("Deliveries", "deliveries", Capability.VIEW),
    NavEntry("Dead letters", "dead-letters", Capability.VIEW),
    NavEntry("Replays", "replays", Capability.VIEW),
    NavEntry("Rejected", "rejected-messages", Capability.VIEW),
    NavEntry("Systems", "systems", Capability.VIEW),
    NavEntry("Targets", "targets", Capability.VIEW),
    NavEntry("Contracts", "contracts", Capability.VIEW),
    NavEntry("Plants & suppliers", "partners", Capability.VIEW),
    NavEntry("API docs", "api-docs", Capability.VIEW),
    NavEntry("Admin", "admin:index", Capability.CONFIGURE),
]


def navigation(request) -> dict[str, object]:
    """Template context processor: the entries this user may see, the current one marked."""
    user = getattr(request, "user", None)
    access = access_for(user)
    if not access.authenticated:
        return {"nav_entries": []}
    entries = []
    for entry in NAV_ENTRIES:
        if not access.can(entry.capability):
            continue
        url = reverse(entry.url_name)
        current = request.path == url if url == "/" else request.path.startswith(url)
        count = entry.count(access) if entry.count else None
        entries.append({"label": entry.label, "url": url, "current": current, "count": count})
    return {"nav_entries": entries, "access": access}
