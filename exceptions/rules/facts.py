"""Reading the canonical events the rules need, a batch at a time (one query per question).

Rules never read an event per event: they ask for all events of some types naming any of a
set of identifiers (`events_naming`), using the identifier index intake writes. Where each
value lives is the contracts' (integrations/contracts/schemas): a PO line's quantity, unit and
requested (need) date in `purchase_order.released` / `.changed`; a confirmed quantity and date in
`supplier.confirmation`; an ASN's lines and `estimated_arrival` in `shipment.dispatched`, a newer
ETA in `shipment.milestone` (delayed); a receipt's lines in `goods.received`; a production
order's start and components in `production_order.released`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from controltower.traces.models import Trace
from integrations.models import Event, EventIdentifier

PO_RELEASED, PO_CHANGED = "purchase_order.released", "purchase_order.changed"
CONFIRMATION = "supplier.confirmation"
ASN, MILESTONE, RECEIPT = "shipment.dispatched", "shipment.milestone", "goods.received"
POSTING, QUALITY = "erp.posting", "quality.exception"
PRODUCTION_RELEASED, PRODUCTION_STARTED = "production_order.released", "production_order.started"

_FIELDS = ("pk", "type", "data", "event_time", "received_at", "plant_id", "supplier_id", "system_id")


@dataclass(frozen=True)
class Fact:
    """One accepted event, as the rules read it."""

    pk: int
    type: str
    data: dict
    at: datetime  # its business time, else when it arrived
    received_at: datetime
    plant_id: int | None
    supplier_id: int | None
    system_id: int | None

    def text(self, name: str) -> str:
        value = self.data.get(name)
        return str(value).strip() if value not in (None, "") else ""

    def lines(self) -> list[dict]:
        lines = self.data.get("lines")
        return [line for line in lines if isinstance(line, dict)] if isinstance(lines, list) else []


def _fact(row: tuple) -> Fact:
    pk, type_, data, event_time, received_at, plant_id, supplier_id, system_id = row
    return Fact(
        pk, type_, data if isinstance(data, dict) else {}, event_time or received_at, received_at,
        plant_id, supplier_id, system_id,
    )  # fmt: skip


def _ordered(facts: Iterable[Fact]) -> list[Fact]:
    return sorted(facts, key=lambda f: (f.at, f.received_at, f.pk))


def events_by_ids(ids: Iterable[int], *, types: Iterable[str]) -> list[Fact]:
    """The events `ids` of the given types, oldest first (one query)."""
    rows = Event.objects.filter(pk__in=list(ids), type__in=list(types)).values_list(*_FIELDS)
    return _ordered(_fact(row) for row in rows)


def events_naming(
    *, kind: str, values: Iterable[str], types: Iterable[str], since: datetime | None = None
) -> list[Fact]:
    """Events of `types` naming any of `values` as an identifier of `kind` (received since
    `since`, when given), oldest first: one query, through the identifier index."""
    values = sorted({v for v in values if v})
    if not values:
        return []
    named = EventIdentifier.objects.filter(kind=kind, value__in=values).values("event_id")
    events = Event.objects.filter(pk__in=named, type__in=list(types))
    if since is not None:
        events = events.filter(received_at__gte=since)
    rows = events.values_list(*_FIELDS)
    return _ordered(_fact(row) for row in rows)


def traces_by_root(kind: str, keys: Iterable[str]) -> dict[str, int]:
    """Trace ids by their root object's key (`purchase_order` → PO trace), for the case's link."""
    keys = sorted({k for k in keys if k})
    if not keys:
        return {}
    return dict(Trace.objects.filter(root__kind=kind, root__key__in=keys).values_list("root__key", "pk"))


def parse_date(value) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def parse_moment(value) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def latest_per(facts: Iterable[Fact], key_name: str) -> dict[str, Fact]:
    """The newest event per business document (`shipment_id`, `receipt_id`, …): a re-sent or
    corrected document replaces the one before."""
    latest: dict[str, Fact] = {}
    for fact in _ordered(facts):
        if key := fact.text(key_name):
            latest[key] = fact
    return latest


@dataclass
class PoLine:
    line: int
    material: str
    quantity: float | None
    unit: str
    requested_date: date | None
    cancelled: bool = False


@dataclass
class Confirmed:
    status: str
    quantity: float | None
    unit: str
    confirmed_date: date | None
    reason: str
    fact: Fact


@dataclass
class PurchaseOrder:
    """A PO as its events tell it now: lines after every change, the latest confirmation per
    line, and the newest version of each ASN naming it."""

    number: str
    released: Fact | None = None
    lines: dict[int, PoLine] = field(default_factory=dict)
    confirmed: dict[int, Confirmed] = field(default_factory=dict)
    asns: dict[str, Fact] = field(default_factory=dict)

    @property
    def plant_id(self) -> int | None:
        return self.released.plant_id if self.released else None

    @property
    def supplier_id(self) -> int | None:
        return self.released.supplier_id if self.released else None

    def _apply_lines(self, fact: Fact) -> None:
        for item in fact.lines():
            number = item.get("line")
            if not isinstance(number, int):
                continue
            if item.get("action") == "cancelled":
                if number in self.lines:
                    self.lines[number].cancelled = True
                continue
            self.lines[number] = PoLine(
                number,
                str(item.get("material", "")),
                item.get("quantity") if isinstance(item.get("quantity"), int | float) else None,
                str(item.get("unit", "")),
                parse_date(item.get("requested_date")),
            )

    def _apply_confirmation(self, fact: Fact) -> None:
        for item in fact.lines():
            number = item.get("line")
            if isinstance(number, int):
                self.confirmed[number] = Confirmed(
                    str(item.get("status", "")),
                    item.get("quantity") if isinstance(item.get("quantity"), int | float) else None,
                    str(item.get("unit", "")),
                    parse_date(item.get("confirmed_date")),
                    str(item.get("reason", "")),
                    fact,
                )


def purchase_orders(numbers: Iterable[str], *, with_asns: bool = True) -> dict[str, PurchaseOrder]:
    """The POs `numbers` as their events tell them now (one query). Only POs whose release
    arrived are returned: without it there is nothing to compare with."""
    types = [PO_RELEASED, PO_CHANGED, CONFIRMATION] + ([ASN] if with_asns else [])
    found: dict[str, PurchaseOrder] = {}
    facts = events_naming(kind="purchase_order", values=numbers, types=types)
    for fact in facts:  # oldest first: changes apply in order
        if fact.type in (PO_RELEASED, PO_CHANGED, CONFIRMATION):
            order = found.setdefault(fact.text("po_number"), PurchaseOrder(fact.text("po_number")))
            if fact.type == PO_RELEASED:
                order.released = fact
                order._apply_lines(fact)
            elif fact.type == PO_CHANGED:
                order._apply_lines(fact)
            else:
                order._apply_confirmation(fact)
    for shipment, fact in latest_per((f for f in facts if f.type == ASN), "shipment_id").items():
        for po in asn_purchase_orders(fact):
            if po in found:
                found[po].asns[shipment] = fact
    return {number: order for number, order in found.items() if order.released is not None}


def asn_purchase_orders(fact: Fact) -> set[str]:
    """Every PO an ASN names, on its lines or in its `purchase_orders` list."""
    named = {str(line.get("po_number")).strip() for line in fact.lines() if line.get("po_number")}
    listed = fact.data.get("purchase_orders")
    if isinstance(listed, list):
        named |= {str(po).strip() for po in listed if po}
    return named


def erp_system_ids() -> set[int]:
    """The source systems that are ERPs (their goods receipts are postings, not dock counts)."""
    from integrations.models import SourceSystem

    return set(SourceSystem.objects.filter(kind=SourceSystem.Kind.ERP).values_list("pk", flat=True))


def events_received(*, types: Iterable[str], since: datetime, until: datetime | None = None) -> list[Fact]:
    """Events of `types` received in [since, until), oldest first (one query, by type and time)."""
    events = Event.objects.filter(type__in=list(types), received_at__gte=since)
    if until is not None:
        events = events.filter(received_at__lt=until)
    return _ordered(_fact(row) for row in events.values_list(*_FIELDS))
