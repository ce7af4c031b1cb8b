"""Expected milestones of each flow: what completes them, in what order, and by when.

A flow is a sequence of milestones. A milestone is completed by the earliest trace event whose
type is one of its `matches` (and whose data passes the match's predicate). Its deadline is its
`Due` rule: `minutes` after the `anchor` milestone was done (a `MilestoneBudget` row may override
the minutes per plant and/or supplier), or a time read from the trace's data (`at`), or nothing.
Evaluation lives in `controltower.traces.services.milestones`; this module is declarations only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class EventFact:
    """What evaluation knows of one trace event."""

    pk: int
    type: str
    data: dict
    at: datetime  # event_time, or received_at for events that carry no time


@dataclass(frozen=True)
class FlowContext:
    """All of one trace's relevant events, oldest first, for predicates and due rules."""

    events: tuple[EventFact, ...]

    def of_type(self, type_: str) -> list[EventFact]:
        return [e for e in self.events if e.type == type_]


Predicate = Callable[[EventFact, FlowContext], bool]


@dataclass(frozen=True)
class Match:
    type: str
    predicate: Predicate | None = None

    def accepts(self, event: EventFact, context: FlowContext) -> bool:
        return event.type == self.type and (self.predicate is None or self.predicate(event, context))


@dataclass(frozen=True)
class Due:
    """When a milestone is due: `at(context)` when it gives a time, else `minutes` after `anchor`
    was done; no deadline when neither applies (`minutes` None, anchor not done yet)."""

    anchor: str | None = None
    minutes: int | None = None
    at: Callable[[FlowContext], datetime | None] | None = None


@dataclass(frozen=True)
class Milestone:
    code: str
    label: str
    matches: tuple[Match, ...]
    due: Due = field(default_factory=Due)
    # Optional milestones may be passed without being reported (many suppliers' carriers send
    # no tracking): skipped, not missing, so the trace is not put in exception for it.
    optional: bool = False


@dataclass(frozen=True)
class Flow:
    code: str
    milestones: tuple[Milestone, ...]
    # An event that puts the trace in exception whatever its milestones say.
    exception: Predicate | None = None

    def milestone(self, code: str) -> Milestone | None:
        return next((m for m in self.milestones if m.code == code), None)


def parse_time(value) -> datetime | None:
    """An ISO 8601 date-time from event data (a bare date is midnight UTC); None when unusable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _key(value) -> str:
    return str(value).strip().upper() if value not in (None, "") else ""


def _carrier_arrived(event: EventFact, context: FlowContext) -> bool:
    return event.data.get("milestone") in {"arrived", "delivered"}


def _receipt_ids(context: FlowContext) -> set[str]:
    return {_key(e.data.get("receipt_id")) for e in context.of_type("goods.received")} - {""}


def _posting_refs(event: EventFact) -> set[str]:
    return {_key(event.data.get("reference")), _key(event.data.get("receipt_id"))} - {""}


def _receipt_posted(event: EventFact, context: FlowContext) -> bool:
    return event.data.get("status") == "posted" and bool(_posting_refs(event) & _receipt_ids(context))


def _asn_eta(context: FlowContext) -> datetime | None:
    # The latest ETA any ASN of the trace announced (a split delivery is there when all of it is).
    etas = [parse_time(e.data.get("estimated_arrival")) for e in context.of_type("shipment.dispatched")]
    return max((eta for eta in etas if eta), default=None)


def _final_operation(event: EventFact, context: FlowContext) -> bool:
    return event.data.get("final") is True


def posting_failed(event: EventFact, context: FlowContext) -> bool:
    """A failed ERP posting that no later successful posting of the same reference has cured."""
    if event.type != "erp.posting" or event.data.get("status") != "failed":
        return False
    refs = _posting_refs(event)
    return not any(
        later.data.get("status") == "posted" and later.at >= event.at and _posting_refs(later) & refs
        for later in context.of_type("erp.posting")
    )


HOUR = 60

FLOWS: dict[str, Flow] = {
    "procure_to_receive": Flow(
        code="procure_to_receive",
        milestones=(
            Milestone("released", "PO released", (Match("purchase_order.released"),)),
            Milestone(
                "confirmed",
                "Supplier confirmed",
                (Match("supplier.confirmation"),),
                Due("released", 24 * HOUR),
            ),
            # No budget of its own, but it must come before `received` (else it is missing).
            Milestone("shipped", "Shipped (ASN)", (Match("shipment.dispatched"),), Due("released")),
            Milestone(
                "delivered",
                "Delivered by carrier",
                (Match("shipment.milestone", _carrier_arrived),),
                Due("shipped", at=_asn_eta),
                optional=True,
            ),
            Milestone("received", "Goods received", (Match("goods.received"),), Due("delivered", 24 * HOUR)),
            Milestone(
                "posted",
                "Receipt posted in ERP",
                (Match("erp.posting", _receipt_posted),),
                Due("received", 15),
            ),
        ),
        exception=posting_failed,
    ),
    "make": Flow(
        code="make",
        milestones=(
            Milestone("released", "Production order released", (Match("production_order.released"),)),
            Milestone(
                "started",
                "Production started",
                (Match("production_order.started"),),
                Due("released", 24 * HOUR),
            ),
            Milestone(
                "completed",
                "Final operation completed",
                (Match("operation.completed", _final_operation),),
                Due("released"),
            ),
        ),
        exception=posting_failed,
    ),
    "order_to_ship": Flow(
        code="order_to_ship",
        milestones=(Milestone("shipped", "Shipped to customer", (Match("customer_shipment.confirmed"),)),),
        exception=posting_failed,
    ),
}


# Quality holds concern every flow: a lot held from a PO's receipt or a production order.
QUALITY = "quality.exception"


@dataclass(frozen=True)
class QualityHold:
    """A lot quality put on hold, and when (if yet) it was released again."""

    lot: str
    held_at: datetime
    reason: str
    defect_code: str
    notification: str
    released_at: datetime | None


def quality_holds(context: FlowContext) -> list[QualityHold]:
    """The trace's quality holds, oldest first, each paired with the first later release of the
    same lot (and the same notification, when both name one). A hold with no release is open."""
    releases = [e for e in context.of_type(QUALITY) if e.data.get("action") == "release"]
    used: set[int] = set()
    holds = []
    for hold in context.of_type(QUALITY):
        if hold.data.get("action") != "hold":
            continue
        lot, notification = _key(hold.data.get("lot")), _key(hold.data.get("notification"))
        release = next(
            (
                r
                for r in releases
                if r.pk not in used
                and r.at >= hold.at
                and _key(r.data.get("lot")) == lot
                and notification in ("", _key(r.data.get("notification")) or notification)
            ),
            None,
        )
        if release is not None:
            used.add(release.pk)
        holds.append(
            QualityHold(
                lot=str(hold.data.get("lot", "")),
                held_at=hold.at,
                reason=str(hold.data.get("reason", "")),
                defect_code=str(hold.data.get("defect_code", "")),
                notification=str(hold.data.get("notification", "")),
                released_at=release.at if release else None,
            )
        )
    return holds


def flow_event_types(flow: Flow) -> set[str]:
    """Event types evaluation must read for `flow` (milestone matches, the exception rule and
    quality holds)."""
    types = {match.type for m in flow.milestones for match in m.matches}
    return types | {QUALITY} | ({"erp.posting"} if flow.exception else set())
