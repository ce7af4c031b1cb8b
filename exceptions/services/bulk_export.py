"""A filtered queue as CSV, streamed row by row (the queue page's link and the API share it).

The caller passes the cases already filtered within the reader's scope (`cases_visible` +
`CaseFilter`): this module only writes them. A spreadsheet runs a cell that starts with
`=`, `+`, `-` or `@` (or a tab or carriage return, which some read as the same) as a formula,
so such a text cell is written with a leading apostrophe: a sender's "=HYPERLINK(…)" in a refused
message's title stays text in the handler's spreadsheet.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from exceptions.models import Case

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Rows read from the database at a time (the response never holds the whole queue).
CHUNK = 2000


def _when(value: datetime | None) -> str:
    return value.isoformat() if value else ""


#: (header, cell of a case), in column order.
COLUMNS: list[tuple[str, Callable[[Case], Any]]] = [
    ("id", lambda c: c.pk),
    ("severity", lambda c: c.get_severity_display()),
    ("state", lambda c: c.state),
    ("kind", lambda c: c.kind),
    ("title", lambda c: c.title),
    ("plant", lambda c: c.plant.code if c.plant_id else ""),
    ("supplier", lambda c: c.supplier.code if c.supplier_id else ""),
    ("system", lambda c: c.system.code if c.system_id else ""),
    ("target", lambda c: c.target.code if c.target_id else ""),
    ("occurrences", lambda c: c.occurrences),
    ("first_seen_at", lambda c: _when(c.first_seen_at)),
    ("last_seen_at", lambda c: _when(c.last_seen_at)),
    ("opened_at", lambda c: _when(c.opened_at)),
    ("sla_due_at", lambda c: _when(c.sla_due_at)),
    ("assignee", lambda c: c.assignee.username if c.assignee_id else ""),
    ("team", lambda c: c.team.name if c.team_id else ""),
    ("reason_code", lambda c: c.reason_code),
    ("summary", lambda c: c.summary),
]


def csv_safe(value: Any) -> Any:
    """A cell a spreadsheet shows as written: text starting like a formula gets an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Line:
    """`csv.writer` writes into this and gets the line back, so lines can be yielded."""

    def write(self, line: str) -> str:
        return line


def cases_csv_lines(cases: QuerySet[Case]) -> Iterator[str]:
    """The header, then one line per case in the queryset's order."""
    writer = csv.writer(_Line())
    yield writer.writerow([header for header, _ in COLUMNS])
    for case in cases.select_related("plant", "supplier", "system", "target", "assignee", "team").iterator(
        chunk_size=CHUNK
    ):
        yield writer.writerow([csv_safe(cell(case)) for _, cell in COLUMNS])
