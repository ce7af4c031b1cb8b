"""Which pages are live, which of their sections update, and on which changes.

One entry per page (by URL name). A section is a partial of the page's own template, rendered
with an element id: the view renders it for the page, for htmx, and — through `render` — for the
websocket, where htmx swaps it in by that id. `matches` narrows the changes that concern one page
(a trace page listens to its own trace only); without it every change of the kinds applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from controltower.changes import Change, Kind


@dataclass(frozen=True)
class LivePage:
    url_name: str
    sections: tuple[str, ...]
    kinds: frozenset[Kind]
    #: (change, the URL's kwargs) → whether this page shows the changed object.
    matches: Callable[[Change, dict], bool] | None = None
    #: The sections show the viewer's own data (not only their scope's): render per user.
    per_user: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    def wants(self, change: Change, url_kwargs: dict) -> bool:
        if change.kind not in self.kinds:
            return False
        return self.matches is None or self.matches(change, url_kwargs)


def same_id(kwarg: str) -> Callable[[Change, dict], bool]:
    """`matches` for a page about one object: the change's id is the URL's `kwarg`."""

    def matches(change: Change, url_kwargs: dict) -> bool:
        return str(change.id) == str(url_kwargs.get(kwarg))

    return matches


PAGES: dict[str, LivePage] = {}


def register(page: LivePage) -> LivePage:
    if page.url_name in PAGES:  # one entry per page: a second would silently replace the first
        raise ValueError(f"{page.url_name!r} is registered as a live page already")
    PAGES[page.url_name] = page
    return page


# traces
# The list: counts per state, the "N new" bar and the changed rows' cells (see `trace_views.traces`).
register(LivePage("traces", sections=("counts", "fresh", "rows"), kinds=frozenset({Kind.TRACE_CHANGED})))
# One trace: its own changes only. Its deliveries' changes arrive as changes of the trace too
# (`controltower.traces.receivers.announce_traces_of_deliveries`).
register(
    LivePage(
        "trace",
        sections=("summary", "milestones", "hops", "deliveries", "timeline"),
        kinds=frozenset({Kind.TRACE_CHANGED, Kind.MILESTONE_LATE}),
        matches=same_id("pk"),
    )
)

# network
# The overview: platform status and the network's tiles.
register(
    LivePage(
        "home",
        sections=("status", "tiles"),
        kinds=frozenset(
            {
                Kind.STATUS_CHANGED,
                Kind.EVENT_ACCEPTED,
                Kind.MESSAGE_REJECTED,
                Kind.DELIVERY_CHANGED,
                Kind.DEAD_LETTERED,
                Kind.TARGET_CHANGED,
            }
        ),
    )
)
# A target's backlog moves when routing writes its deliveries (in intake's transaction: announced
# as EVENT_ACCEPTED) and as workers send, park or give them up (DELIVERY_CHANGED, DEAD_LETTERED).
register(
    LivePage(
        "targets",
        sections=("table",),
        kinds=frozenset(
            {Kind.TARGET_CHANGED, Kind.EVENT_ACCEPTED, Kind.DELIVERY_CHANGED, Kind.DEAD_LETTERED}
        ),
    )
)
register(LivePage("systems", sections=("table",), kinds=frozenset({Kind.SYSTEM_CHANGED})))
register(
    LivePage(
        "rejected-messages",
        sections=("table",),
        kinds=frozenset({Kind.MESSAGE_REJECTED, Kind.MESSAGE_CHANGED}),
    )
)
register(
    LivePage(
        "rejected-message",
        sections=("resubmissions",),
        kinds=frozenset({Kind.MESSAGE_CHANGED}),
        matches=same_id("pk"),
    )
)

# exceptions
register(
    # "My queue" and "my teams" differ per person: rendered per user.
    LivePage("cases", sections=("queue",), kinds=frozenset({Kind.CASE_CHANGED}), per_user=True)
)
register(
    LivePage(
        "case",
        sections=("summary", "occurrences", "history"),
        kinds=frozenset({Kind.CASE_CHANGED}),
        matches=same_id("pk"),
    )
)

# delivery
# Lists re-render on any delivery change in the viewer's scope (their rows are pinned, see
# controltower/web/pinning.py); a delivery's page on its own. Jobs are seen by everyone who sees
# everything and by their starter only: their pages render per user.
DELIVERY_KINDS = frozenset({Kind.DELIVERY_CHANGED, Kind.DEAD_LETTERED})
register(LivePage("deliveries", sections=("table",), kinds=DELIVERY_KINDS))
register(LivePage("dead-letters", sections=("table",), kinds=DELIVERY_KINDS))
register(
    LivePage(
        "delivery",
        sections=("facts", "retry", "attempts", "jobs"),
        kinds=DELIVERY_KINDS,
        matches=same_id("pk"),
    )
)
register(LivePage("replays", sections=("table",), kinds=frozenset({Kind.JOB_PROGRESS}), per_user=True))
register(
    LivePage(
        "replay",
        sections=("progress", "item_table"),
        kinds=frozenset({Kind.JOB_PROGRESS}),
        matches=same_id("pk"),
        per_user=True,
    )
)

# A bulk action's progress, for who started it (the view shows nobody else's job).
register(
    LivePage(
        "case-bulk",
        sections=("progress",),
        kinds=frozenset({Kind.JOB_PROGRESS}),
        matches=lambda change, url_kwargs: change.id == f"case-bulk:{url_kwargs.get('pk')}",
        per_user=True,
    )
)
