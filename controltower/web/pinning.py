"""Live lists that do not move under the reader.

A live list re-renders while someone reads it. Were it simply queried again, every new row would
push the page down (and page 2 would shift too). So a list is *pinned*: its query carries an
anchor (`upto`: the newest row's key when the reader first saw it) and shows only rows up to it,
updated in place; rows newer than the anchor are only counted, for an "N new — show" bar that
drops the anchor. A list that was empty holds nothing a new row could move: it takes the new rows
at once.

The anchor never shows in the address bar: the list section names the URL it is rendered from
(`data-live-page`, followed by the live socket and used by its paging links), while the pushed URL
keeps only the filters, so a reload or a shared link shows the list fresh.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import QueryDict

PIN = "upto"
#: New rows are counted up to this many ("1000+ new"): the count stays cheap on a busy list.
NEW_COUNTED = 1000


@dataclass(frozen=True)
class Pinned:
    page: Page
    anchor: int
    new: int
    new_more: bool  # more new rows than NEW_COUNTED

    @property
    def new_label(self) -> str:
        return f"{self.new}+" if self.new_more else str(self.new)


@dataclass(frozen=True)
class Anchoring:
    """How a list is anchored: `newest(rows)` is the anchor of the list as of now,
    `held(rows, anchor)` the rows shown under an anchor, `newer(rows, anchor)` those only counted."""

    newest: Callable[[QuerySet], int]
    held: Callable[[QuerySet, int], QuerySet]
    newer: Callable[[QuerySet, int], QuerySet]


#: Lists ordered by id, newest first (ids only grow).
BY_ID = Anchoring(
    newest=lambda rows: rows.values_list("pk", flat=True).first() or 0,
    held=lambda rows, anchor: rows.filter(pk__lte=anchor),
    newer=lambda rows, anchor: rows.filter(pk__gt=anchor),
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """A time as an anchor: whole microseconds since the epoch (exact, no float)."""
    return (moment - _EPOCH) // _MICROSECOND


def moment(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


def anchor_given(raw: Mapping[str, Any]) -> int | None:
    try:
        value = int(str(raw.get(PIN, "")))
    except ValueError:
        return None
    return value if value >= 0 else None


def pinned_page(
    rows: QuerySet, *, raw: Mapping[str, Any], per_page: int, anchoring: Anchoring = BY_ID
) -> Pinned:
    """The page of `rows` (ordered newest first) the reader holds, by the anchor in `raw`
    (a new one, as of now, when it has none or held nothing)."""
    anchor = anchor_given(raw)
    found: list = []
    if anchor is not None:
        found = list(anchoring.newer(rows, anchor).values_list("pk", flat=True)[: NEW_COUNTED + 1])
    if anchor is None or found and not anchoring.held(rows, anchor).exists():
        anchor, found = anchoring.newest(rows), []
    page = Paginator(anchoring.held(rows, anchor), per_page).get_page(raw.get("page"))
    return Pinned(
        page=page, anchor=anchor, new=min(len(found), NEW_COUNTED), new_more=len(found) > NEW_COUNTED
    )


def pinned_urls(*, list_url: str, filters: Mapping[str, str], pinned: Pinned) -> dict[str, Any]:
    """What a pinned list's template needs: the query its paging links keep (filters and
    anchor), the URL the live socket follows (that and the page), and the fresh list's URL."""
    fresh = QueryDict(mutable=True)
    fresh.update({name: value for name, value in filters.items() if value})
    held = fresh.copy()
    held[PIN] = str(pinned.anchor)
    live = held.copy()
    if pinned.page.number > 1:
        live["page"] = str(pinned.page.number)
    return {
        "list_query": held,
        "fresh_query": fresh,
        "live_page": f"{list_url}?{live.urlencode()}",
        "fresh_url": f"{list_url}?{fresh.urlencode()}" if fresh else list_url,
    }
