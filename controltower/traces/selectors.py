"""Readers of the traces app: which traces someone may see, finding one, its events."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Coalesce

from controltower.accounts.access import Access
from controltower.traces.identifiers import RuleBook, identifier_rules_load, normalize_identifier
from controltower.traces.models import (
    CORRELATING_KINDS,
    ROOT_FLOWS,
    BusinessObject,
    EventObject,
    Trace,
    TraceEvent,
)
from integrations.models import Event, EventIdentifier


def traces_visible(*, access: Access) -> QuerySet[Trace]:
    """Traces `access` may see, most recently active first.

    People see traces by the trace's plant or supplier (their scope). A source system (a system
    token) sees the traces that contain at least one of its own events.
    """
    traces = Trace.objects.select_related("root", "plant", "supplier").order_by("-last_event_at", "-id")
    if access.system_id is not None:
        own = TraceEvent.objects.filter(trace_id=OuterRef("pk"), event__system_id=access.system_id)
        return traces.filter(Exists(own))
    return access.scope.filter(traces, plant_field="plant_id", supplier_field="supplier_id")


def traces_for_identifier(*, kind: str, value: str, access: Access) -> QuerySet[Trace]:
    """Visible traces spanning the object identified by (`kind`, `value`).

    `value` matches when it equals the object's normalised key, or when normalising it as the
    caller's system, or as any system that actually sent that exact value, gives the key — so
    both "4500012345" and the portal's raw "PO-4500012345" find the PO. For a root kind that
    is its own trace; a PO line gives its PO's trace; any other object (a shipment serving
    several POs) gives every trace containing an event that names it.
    """
    keys = _candidate_keys(kind=kind, value=value, system_id=access.system_id)
    objects = BusinessObject.objects.filter(kind=kind, key__in=keys)
    visible = traces_visible(access=access)
    if kind in ROOT_FLOWS:
        return visible.filter(root__in=objects)
    if kind == "po_line":
        po_keys = {key.partition("/")[0] for key in keys if "/" in key}
        return visible.filter(root__kind="purchase_order", root__key__in=po_keys)
    naming = EventObject.objects.filter(object__in=objects).values("event_id")
    return visible.filter(Exists(TraceEvent.objects.filter(trace_id=OuterRef("pk"), event_id__in=naming)))


def trace_for_identifier(*, kind: str, value: str, access: Access) -> Trace | None:
    """The one trace for an identifier: the trace rooted at it (or at a PO line's PO); for a
    non-root object spanned by several traces, the most recently active. None if not visible."""
    return traces_for_identifier(kind=kind, value=value, access=access).first()


def trace_events(*, trace: Trace) -> QuerySet[Event]:
    """The trace's events with their system, in business order: event time (or, for events
    without one, time received), then id."""
    members = TraceEvent.objects.filter(trace=trace).values("event_id")
    return (
        Event.objects.filter(id__in=members)
        .select_related("system")
        .annotate(at=Coalesce("event_time", "received_at"))
        .order_by("at", "id")
    )


def _candidate_keys(*, kind: str, value: str, system_id: int | None) -> set[str]:
    rules = identifier_rules_load()
    raw = value.strip()
    if kind == "po_line" and "/" in raw:
        # A line as some system spells it: its PO part as that system spells POs.
        po, _, line = raw.rpartition("/")
        return {
            normalize_identifier(kind=kind, value=f"{po_key}/{line}", system_id=None, rules={})
            for po_key in _sent_keys(kind="purchase_order", raw=po.strip(), system_id=system_id, rules=rules)
        } - {""}
    return _sent_keys(kind=kind, raw=raw, system_id=system_id, rules=rules)


def _sent_keys(*, kind: str, raw: str, system_id: int | None, rules: RuleBook) -> set[str]:
    """`raw` itself, and `raw` normalised as the caller, as every system, and as each system
    that actually sent that exact value."""
    keys = {raw}
    senders: set[int | None] = {None, system_id}
    senders.update(
        EventIdentifier.objects.filter(kind=kind, value=raw)
        .values_list("event__system_id", flat=True)
        .distinct()
    )
    for sender in senders:
        key = normalize_identifier(kind=kind, value=raw, system_id=sender, rules=rules)
        if key:
            keys.add(key)
    return keys


def traces_search(*, query: str, access: Access) -> QuerySet[Trace]:
    """Traces for what someone typed in the search box: `KIND:VALUE`, or a bare value tried as
    every correlating kind (a PO number, an ASN, a tracking number, a receipt, …); a value
    ending in `*` matches keys by prefix."""
    text = query.strip()
    kind, sep, value = text.partition(":")
    kinds = [kind] if sep and kind in CORRELATING_KINDS else list(CORRELATING_KINDS)
    value = value if sep and kind in CORRELATING_KINDS else text
    if not value:
        return Trace.objects.none()
    if value.endswith("*") and len(value) > 2:
        objects = BusinessObject.objects.filter(kind__in=kinds, key__startswith=value[:-1].strip())
        naming = EventObject.objects.filter(object__in=objects).values("event_id")
        return traces_visible(access=access).filter(
            Exists(TraceEvent.objects.filter(trace_id=OuterRef("pk"), event_id__in=naming))
        )
    found = Trace.objects.none()
    for each in kinds:
        found = found | traces_for_identifier(kind=each, value=value, access=access)
    return found.distinct()


def trace_objects(*, trace: Trace) -> dict[str, list[str]]:
    """The business objects the trace's events name, by kind (the trace's object graph)."""
    members = TraceEvent.objects.filter(trace=trace).values("event_id")
    rows = (
        EventObject.objects.filter(event_id__in=members)
        .values_list("object__kind", "object__key")
        .distinct()
        .order_by("object__kind", "object__key")
    )
    graph: dict[str, list[str]] = {}
    for kind, key in rows:
        if (
            kind == "po_line"
            and trace.root.kind == "purchase_order"
            and not key.startswith(f"{trace.root.key}/")
        ):
            continue  # another PO's line on a shared ASN
        graph.setdefault(kind, []).append(key)
    return graph
