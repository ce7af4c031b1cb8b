"""Business traces: events joined by the business objects their identifiers name.

The correlation graph is stored as data, so it converges whatever order events arrive in:
- `BusinessObject` is one business object (a PO, a shipment, …) by kind and normalised key;
- `EventObject` says an event names an object; `ObjectLink` says two objects were named by the
  same event (an undirected edge, stored once as low id < high id);
- `Trace` is one end-to-end flow rooted at a root-kind object (PO, production order, customer
  order) with aggregates for listing; `TraceEvent` is its materialised membership;
- `CorrelatedEvent` marks an event as processed, so the sweeper finds the ones that were not.
`IdentifierRule` is configuration: how a system's spelling of an identifier is normalised.
Writes go through `controltower.traces.services`; reads through `controltower.traces.selectors`.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from controltower.masterdata.models import Plant, Supplier
from integrations.models import Event, SourceSystem

# Identifier kinds that name a business object (an attribute like plant or material does not:
# thousands of unrelated orders share a plant, and joining on it would merge them all).
CORRELATING_KINDS: tuple[str, ...] = (
    "purchase_order",
    "po_line",
    "shipment",
    "tracking_number",
    "goods_receipt",
    "production_order",
    "customer_order",
)
# Root kinds start a trace; the value is the trace's flow.
ROOT_FLOWS: dict[str, str] = {
    "purchase_order": "procure_to_receive",
    "production_order": "make",
    "customer_order": "order_to_ship",
}


class IdentifierRule(models.Model):
    """How one system (or every system) spells identifiers of one kind, undone for matching.

    Applied in `normalize_identifier`: the system's rules for the kind first, then the global
    ones (system empty). Example: the supplier portal sends `PO-4500012345` where the ERP sends
    `4500012345`, so a portal rule for `purchase_order` strips the prefix `PO-`.
    """

    system = models.ForeignKey(
        SourceSystem,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="identifier_rules",
        help_text="Empty: applies to every system (after the system's own rules).",
    )
    kind = models.CharField(max_length=32, choices=[(kind, kind) for kind in CORRELATING_KINDS])
    strip_prefix = models.CharField(max_length=50, blank=True)
    strip_suffix = models.CharField(max_length=50, blank=True)
    strip_leading_zeros = models.BooleanField(default=False)
    uppercase = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "system__code", "id"]
        indexes = [models.Index(fields=["kind", "system"], name="identifier_rule_kind_system")]

    def __str__(self) -> str:
        who = self.system.code if self.system_id else "every system"
        return f"{self.kind} from {who}"


class BusinessObject(models.Model):
    """One business object, by identifier kind and normalised key (`4500012345/10` for a PO line)."""

    kind = models.CharField(max_length=32)
    key = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="business_object_unique_kind_key")
        ]
        # Prefix search (`4500*`): the unique index cannot serve LIKE 'x%' under a non-C
        # collation; a pattern-ops index can (PostgreSQL; other databases ignore the opclass).
        indexes = [
            models.Index(fields=["key"], opclasses=["varchar_pattern_ops"], name="business_object_key_prefix")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"

    @property
    def is_root(self) -> bool:
        return self.kind in ROOT_FLOWS


class EventObject(models.Model):
    """An event names a business object."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    object = models.ForeignKey(BusinessObject, on_delete=models.CASCADE, related_name="event_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "object"], name="event_object_unique")]
        # The unique index leads with the event; membership reads by object.
        indexes = [models.Index(fields=["object", "event"], name="event_object_by_object")]

    def __str__(self) -> str:
        return f"event {self.event_id} names {self.object_id}"


class ObjectLink(models.Model):
    """Two business objects named by the same event: an undirected edge, stored with low < high."""

    low = models.ForeignKey(BusinessObject, on_delete=models.CASCADE, related_name="+")
    high = models.ForeignKey(BusinessObject, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["low", "high"], name="object_link_unique"),
            models.CheckConstraint(condition=Q(low__lt=F("high")), name="object_link_low_lt_high"),
        ]
        # The unique index serves "neighbours of low"; this one "neighbours of high".
        indexes = [models.Index(fields=["high", "low"], name="object_link_by_high")]

    def __str__(self) -> str:
        return f"{self.low_id} — {self.high_id}"


class Trace(models.Model):
    """One end-to-end business flow, rooted at a PO, production order or customer order.

    Aggregates (plant, supplier, times, count) are recomputed by correlation whenever the
    trace's membership may have changed; they are what lists filter and sort by.
    """

    class Flow(models.TextChoices):
        PROCURE_TO_RECEIVE = "procure_to_receive", "Procure to receive"
        MAKE = "make", "Make"
        ORDER_TO_SHIP = "order_to_ship", "Order to ship"

    class State(models.TextChoices):
        ON_TRACK = "on_track", "On track"
        AT_RISK = "at_risk", "At risk"
        LATE = "late", "Late"
        EXCEPTION = "exception", "Exception"
        COMPLETE = "complete", "Complete"

    flow = models.CharField(max_length=32, choices=Flow.choices)
    root = models.OneToOneField(BusinessObject, on_delete=models.PROTECT, related_name="trace")
    plant = models.ForeignKey(Plant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    first_event_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    event_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Written by `trace_milestones_evaluate` (see `controltower.traces.flows`).
    state = models.CharField(max_length=16, choices=State.choices, default=State.ON_TRACK)
    next_due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the state can next change with time alone (re-evaluate then)."
    )
    # Why the state is what it is, written with it (see `trace_milestones_evaluate`): `cause`
    # (a state, or `missing`, `posting_failed`, `quality_hold`), the deciding milestone's
    # `milestone` label, its `due` and `at` (ISO 8601 UTC, or null) and a `detail`; `quality`
    # lists the trace's quality holds, released or not. Read through `reason` and `quality`.
    state_reason = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["next_due_at"], name="trace_next_due"),
            models.Index(fields=["last_event_at"], name="trace_last_event"),
            models.Index(fields=["plant", "last_event_at"], name="trace_plant_last_event"),
            models.Index(fields=["supplier", "last_event_at"], name="trace_supplier_last_event"),
            models.Index(fields=["flow", "last_event_at"], name="trace_flow_last_event"),
        ]

    def __str__(self) -> str:
        return f"{self.get_flow_display()} {self.root_id}"

    @property
    def reason(self) -> dict:
        """`state_reason` without its quality list, times as datetimes (for display)."""
        reason = {k: v for k, v in self.state_reason.items() if k != "quality"}
        return _with_times(reason, ("due", "at"))

    @property
    def quality(self) -> list[dict]:
        """The trace's quality holds ({lot, held_at, released_at, reason, defect_code}), oldest first."""
        return [
            _with_times(hold, ("held_at", "released_at")) for hold in self.state_reason.get("quality", [])
        ]

    @property
    def open_quality_holds(self) -> int:
        return sum(1 for hold in self.state_reason.get("quality", []) if not hold.get("released_at"))


def _with_times(values: dict, names: tuple[str, ...]) -> dict:
    return {
        k: (datetime.fromisoformat(v) if k in names and isinstance(v, str) and v else v)
        for k, v in values.items()
    }


class TraceEvent(models.Model):
    """Materialised membership: `event` belongs to `trace` (an event may be in several traces)."""

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="memberships")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trace", "event"], name="trace_event_unique")]
        indexes = [models.Index(fields=["event", "trace"], name="trace_event_by_event")]

    def __str__(self) -> str:
        return f"trace {self.trace_id} has event {self.event_id}"


class CorrelatedEvent(models.Model):
    """The event was correlated (its objects, links and traces are written)."""

    event = models.OneToOneField(Event, primary_key=True, on_delete=models.CASCADE, related_name="+")
    correlated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"event {self.event_id} correlated"


class MilestoneBudget(models.Model):
    """An override of a milestone's time budget (minutes after its anchor, see `flows.FLOWS`).

    The most specific row wins: plant and supplier, then plant, then supplier, then the flow's
    default. Applies to traces evaluated afterwards (the overdue job re-evaluates due ones).
    """

    flow = models.CharField(max_length=32, choices=Trace.Flow.choices)
    milestone = models.CharField(max_length=32, help_text="A milestone code of the flow, e.g. confirmed.")
    plant = models.ForeignKey(Plant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    budget_minutes = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["flow", "milestone", "plant__code", "supplier__code"]
        # One row per scope. NULL never equals NULL in a unique index, so each combination of
        # set and unset partners gets its own partial constraint.
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "milestone"],
                condition=Q(plant__isnull=True, supplier__isnull=True),
                name="milestone_budget_unique_default",
            ),
            models.UniqueConstraint(
                fields=["flow", "milestone", "plant"],
                condition=Q(supplier__isnull=True),
                name="milestone_budget_unique_plant",
            ),
            models.UniqueConstraint(
                fields=["flow", "milestone", "supplier"],
                condition=Q(plant__isnull=True),
                name="milestone_budget_unique_supplier",
            ),
            models.UniqueConstraint(
                fields=["flow", "milestone", "plant", "supplier"], name="milestone_budget_unique_both"
            ),
        ]

    def __str__(self) -> str:
        scope = "/".join(x.code for x in (self.plant, self.supplier) if x) or "default"
        return f"{self.flow}.{self.milestone} {scope}: {self.budget_minutes} min"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from controltower.traces.flows import FLOWS

        flow = FLOWS.get(self.flow)
        milestone = flow.milestone(self.milestone) if flow else None
        if milestone is None or milestone.due.anchor is None:
            codes = [m.code for m in flow.milestones if m.due.anchor] if flow else []
            raise ValidationError({"milestone": f"Choose a milestone with an anchor: {', '.join(codes)}."})


class TraceMilestone(models.Model):
    """One expected milestone of a trace and where it stands (written by evaluation only)."""

    class State(models.TextChoices):
        DONE = "done", "Done"
        LATE = "late", "Late"
        PENDING = "pending", "Pending"
        MISSING = "missing", "Missing"
        # An optional milestone (e.g. carrier tracking) passed by later ones: not an exception.
        SKIPPED = "skipped", "Not reported"

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="milestones")
    code = models.CharField(max_length=32)
    position = models.PositiveSmallIntegerField()
    expected_by = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["trace", "position"]
        constraints = [models.UniqueConstraint(fields=["trace", "code"], name="trace_milestone_unique")]

    def __str__(self) -> str:
        return f"trace {self.trace_id} {self.code}: {self.state}"
