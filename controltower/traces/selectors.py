"""Readers of the traces app: which traces someone may see, finding one, its events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
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
from controltower.traces.services.graph import chunks
from integrations.models import Event, EventIdentifier, RejectedIdentifier, RejectedMessage
from integrations.selectors import rejected_messages_visible

TELEMETRY = "integration.telemetry"


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


def trace_newest_id() -> int:
    """The highest trace id (0 with none): every trace committed so far has this id or a lower
    one, since correlation creates traces one transaction at a time (`graph_lock`)."""
    return Trace.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def traces_count_by_state(traces: QuerySet[Trace]) -> dict[str, int]:
    """{state: number of `traces` in it}, in one grouped query."""
    rows = traces.order_by().values_list("state").annotate(n=Count("pk"))
    return dict(rows)


def traces_of_deliveries(*, delivery_ids: Iterable[int]) -> set[tuple[int, int | None, int | None]]:
    """(trace id, plant id, supplier id) of each trace holding an event that `delivery_ids`
    deliver: whose trace page lists those deliveries. One query per 2,000 ids."""
    from integrations.delivery.models import Delivery

    found: set[tuple[int, int | None, int | None]] = set()
    for chunk in chunks(delivery_ids):
        events = Delivery.objects.filter(pk__in=chunk).values("event_id")
        rows = TraceEvent.objects.filter(event_id__in=events).values_list(
            "trace_id", "trace__plant_id", "trace__supplier_id"
        )
        found.update(rows.distinct())
    return found


def traces_for_identifier(
    *, kind: str, value: str, access: Access, rules: RuleBook | None = None
) -> QuerySet[Trace]:
    """Visible traces spanning the object identified by (`kind`, `value`).

    `value` matches when it equals the object's normalised key, or when normalising it as the
    caller's system, or as any system with identifier rules for the kind, gives the key — so
    both "4500012345" and the portal's spelling "PO-4500012345" find the PO. For a root kind that
    is its own trace; a PO line gives its PO's trace; any other object (a shipment serving
    several POs) gives every trace containing an event that names it.
    """
    keys = _candidate_keys(kind=kind, value=value, system_id=access.system_id, rules=rules)
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


def trace_events(*, trace: Trace, telemetry: bool = True) -> QuerySet[Event]:
    """The trace's events with their system, in business order: event time (or, for events
    without one, time received), then id. `telemetry=False` leaves out middleware hops (the
    trace page shows those grouped by message, see `trace_hops`)."""
    members = TraceEvent.objects.filter(trace=trace).values("event_id")
    events = Event.objects.filter(id__in=members)
    if not telemetry:
        events = events.exclude(type=TELEMETRY)
    return (
        events.select_related("system")
        .annotate(at=Coalesce("event_time", "received_at"))
        .order_by("at", "id")
    )


@dataclass
class MessageHops:
    """What the middleware reported about carrying one message (one business event)."""

    message_id: str
    carried: Event | None = None  # the trace's event with that id, when the tower has it
    hops: list[Event] = field(default_factory=list)

    @property
    def first(self) -> dict:
        return self.hops[0].data

    @property
    def failures(self) -> int:
        return sum(1 for hop in self.hops if hop.data.get("status") == "failed")

    @property
    def outcome(self) -> str:
        """`delivered` or `failed` after the last hop reported; `in flight` before."""
        last = self.hops[-1].data.get("status")
        return last if last in {"delivered", "failed"} else "in flight"


def trace_hops(*, trace: Trace, limit: int = 500, message_ids: list[str] | None = None) -> list[MessageHops]:
    """Middleware telemetry about the trace, grouped by message, in order of the first hop.

    A hop belongs to the trace when it names the trace's objects (it is a member) or when its
    `message_id` is the id of one of the trace's events (the middleware carried that event),
    whichever arrived first. At most `limit` hops are read: the newest are dropped first.
    With `message_ids` (the events of one timeline page), only the hops that carried those.
    """
    members = TraceEvent.objects.filter(trace=trace).values("event_id")
    if message_ids is not None:
        hop_ids = EventIdentifier.objects.filter(kind="message", value__in=message_ids).values("event_id")
    else:
        carried_ids = Event.objects.filter(id__in=members).exclude(type=TELEMETRY).values("event_id")
        by_message = EventIdentifier.objects.filter(kind="message", value__in=carried_ids).values("event_id")
        # Two indexed id sets, united: an OR of the two subqueries makes PostgreSQL scan every event.
        hop_ids = members.union(by_message)
    hops = (
        Event.objects.filter(id__in=hop_ids, type=TELEMETRY)
        .annotate(at=Coalesce("event_time", "received_at"))
        .order_by("at", "id")[:limit]
    )
    grouped: dict[str, MessageHops] = {}
    for hop in hops:
        message_id = str(hop.data.get("message_id", ""))
        grouped.setdefault(message_id, MessageHops(message_id=message_id)).hops.append(hop)
    carried = Event.objects.filter(id__in=members, event_id__in=list(grouped)).exclude(type=TELEMETRY)
    for event in carried:
        grouped[event.event_id].carried = event
    return list(grouped.values())


def trace_rejected_messages(
    *, trace: Trace, access: Access, limit: int = 50, object_keys: list[tuple[str, str]] | None = None
) -> QuerySet[RejectedMessage]:
    """Refused messages (visible to `access`) that name one of the trace's objects, newest
    first: matched by the normalised key or by any spelling the trace's own events used.
    `object_keys`: the trace's `trace_object_keys`, when the caller has read them already."""
    members = TraceEvent.objects.filter(trace=trace).values("event_id")
    values: dict[str, set[str]] = defaultdict(set)
    named = trace_object_keys(trace=trace) if object_keys is None else object_keys
    spelled = EventIdentifier.objects.filter(event_id__in=members, kind__in=CORRELATING_KINDS)
    for kind, value in [*named, *spelled.values_list("kind", "value").distinct()]:
        values[kind].add(value)
    if not values:
        return RejectedMessage.objects.none()
    match = Q()
    for kind, kind_values in values.items():
        match |= Q(kind=kind, value__in=sorted(kind_values))
    naming = RejectedIdentifier.objects.filter(match).values("rejected_id")
    return rejected_messages_visible(access=access).filter(id__in=naming)[:limit]


def _candidate_keys(*, kind: str, value: str, system_id: int | None, rules: RuleBook | None) -> set[str]:
    rules = identifier_rules_load() if rules is None else rules
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
    """`raw` itself, and `raw` normalised as the caller and as every system with rules for
    `kind` (the identifier rules in the admin), as intake would have normalised it: so any
    spelling a system uses ("PO-4500012345", "po-4500012345") gives the key."""
    keys = {raw, raw.upper()}  # keys are upper case where any rule says so (the default)
    senders = {None, system_id} | {sender for sender, rule_kind in rules if rule_kind == kind}
    for sender in senders:
        key = normalize_identifier(kind=kind, value=raw, system_id=sender, rules=rules)
        if key:
            keys.add(key)
    return keys


# A bare partial identifier shorter than this is not searched by prefix (it would match most keys).
PREFIX_MIN = 4
PREFIX_TRACES_MAX = 5_000


def traces_search(*, query: str, access: Access) -> QuerySet[Trace]:
    """Traces for what someone typed in the search box: `KIND:VALUE`, or a bare value tried as
    every correlating kind (a PO number, an ASN, a tracking number, a receipt, …), in any
    spelling a system uses. A value ending in `*` matches keys by prefix; so does a bare value
    of at least `PREFIX_MIN` characters that names no object exactly (`4500026` lists the POs
    4500026…). Prefixes are normalised by the same rules, and match the start of a key only
    (an index range; a number's middle or end is not searched)."""
    text = query.strip()
    kind, sep, value = text.partition(":")
    kinds = [kind] if sep and kind in CORRELATING_KINDS else list(CORRELATING_KINDS)
    value = value if sep and kind in CORRELATING_KINDS else text
    if not value:
        return Trace.objects.none()
    visible = traces_visible(access=access)
    rules = identifier_rules_load()
    if value.endswith("*"):
        return _traces_by_prefix(
            kinds=kinds, value=value[:-1].strip(), access=access, rules=rules, visible=visible
        )
    # One query per kind, united: an OR across kinds plans as a scan of every trace.
    per_kind = [
        traces_for_identifier(kind=each, value=value, access=access, rules=rules).order_by().values("pk")
        for each in kinds
    ]
    exact = visible.filter(pk__in=per_kind[0].union(*per_kind[1:]))
    if len(value) < PREFIX_MIN or exact.exists():
        return exact
    return _traces_by_prefix(kinds=kinds, value=value, access=access, rules=rules, visible=visible)


def _traces_by_prefix(
    *, kinds: list[str], value: str, access: Access, rules: RuleBook, visible: QuerySet[Trace]
) -> QuerySet[Trace]:
    if len(value) < 2:
        return Trace.objects.none()
    match = Q()
    for kind in kinds:
        prefixes = _candidate_keys(kind=kind, value=value, system_id=access.system_id, rules=rules)
        if prefixes:
            # Each a range on the key's pattern-ops index (`key LIKE 'x%'`).
            match |= Q(kind=kind) & _any_prefix(prefixes)
    if not match:
        return Trace.objects.none()
    # Matching traces first, then the visible ones among them: asked the other way round,
    # PostgreSQL walks every visible trace newest first.
    objects = BusinessObject.objects.filter(match)
    naming = EventObject.objects.filter(object__in=objects).values("event_id")
    matching = TraceEvent.objects.filter(event_id__in=naming).values_list("trace_id", flat=True)
    return visible.filter(pk__in=set(matching[:PREFIX_TRACES_MAX]))


def _any_prefix(prefixes: set[str]) -> Q:
    match = Q()
    for prefix in sorted(prefixes):
        match |= Q(key__startswith=prefix)
    return match


def trace_object_keys(*, trace: Trace) -> list[tuple[str, str]]:
    """(kind, key) of every business object the trace's events name, sorted, each once."""
    members = TraceEvent.objects.filter(trace=trace).values("event_id")
    return list(
        EventObject.objects.filter(event_id__in=members)
        .values_list("object__kind", "object__key")
        .distinct()
        .order_by("object__kind", "object__key")
    )


def trace_objects(*, trace: Trace, object_keys: list[tuple[str, str]] | None = None) -> dict[str, list[str]]:
    """The business objects the trace's events name, by kind (the trace's object graph).
    `object_keys`: the trace's `trace_object_keys`, when the caller has read them already."""
    graph: dict[str, list[str]] = {}
    for kind, key in trace_object_keys(trace=trace) if object_keys is None else object_keys:
        if (
            kind == "po_line"
            and trace.root.kind == "purchase_order"
            and not key.startswith(f"{trace.root.key}/")
        ):
            continue  # another PO's line on a shared ASN
        graph.setdefault(kind, []).append(key)
    return graph
