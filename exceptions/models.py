"""Exception cases: what a handler owns, works and closes.

- `Case` is one problem, however often it happens: occurrences with the same fingerprint (kind,
  system/target, error class, business key, and the plant/supplier it belongs to) fold into it,
  with a count and first/last seen. A resolved case reopens when it recurs.
- `Occurrence` is one thing that made the case (a refused message, a dead-lettered delivery, …),
  named by its source and id; the case closes itself once every occurrence's cause is gone.
- `CaseEntry` is the case's history: who did what, when, before → after, with a comment.
- `Team` is a handlers' queue (routing rules send cases to one).
- `RuleThreshold` tunes a business rule (see `exceptions.rules`) for a plant, supplier and/or
  material; the rule's default applies where no row does.
Writes go through `exceptions.services`; reads through `exceptions.selectors`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from controltower.masterdata.models import Plant, Supplier
from controltower.traces.models import Trace
from integrations.delivery.models import Target
from integrations.models import SourceSystem


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="exception_teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Case(models.Model):
    class Kind(models.TextChoices):
        VALIDATION = "validation", "Validation failure"
        UNKNOWN_TYPE = "unknown_type", "Unknown event type"
        FOREIGN_SOURCE = "foreign_source", "Foreign source"
        DEAD_LETTER = "dead_letter", "Dead letter"
        QUANTITY_MISMATCH = "quantity_mismatch", "Quantity mismatch"
        DATE_CONFLICT = "date_conflict", "Date conflict"
        MISSING_MILESTONE = "missing_milestone", "Missing milestone"
        LATE_MILESTONE = "late_milestone", "Late milestone"
        PRODUCTION_AT_RISK = "production_at_risk", "Production at risk"
        QUALITY_HOLD = "quality_hold", "Quality hold"
        RECONCILIATION = "reconciliation", "Reconciliation difference"
        SOURCE_SILENT = "source_silent", "Source gone quiet"
        MIDDLEWARE_FAILURE = "middleware_failure", "Middleware failure"

    class Severity(models.IntegerChoices):
        # Integers, so "most severe first" is a plain descending sort.
        LOW = 1, "Low"
        MEDIUM = 2, "Medium"
        HIGH = 3, "High"
        CRITICAL = 4, "Critical"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        SNOOZED = "snoozed", "Snoozed"
        RESOLVED = "resolved", "Resolved"
        IGNORED = "ignored", "Ignored"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.MEDIUM)
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    # sha256 of the fingerprint's parts (see services.opening.fingerprint_of): one case per value.
    fingerprint = models.CharField(max_length=64, unique=True)
    error_class = models.CharField(max_length=200, blank=True)
    business_key = models.CharField(max_length=255, blank=True)
    system = models.ForeignKey(
        SourceSystem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target = models.ForeignKey(Target, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    trace = models.ForeignKey(Trace, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    plant = models.ForeignKey(Plant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=300, help_text="One line for the queue.")
    summary = models.TextField(help_text="What happened, in words a planner understands.")
    evidence = models.JSONField(default=dict, help_text="The values, errors and references behind it.")
    occurrences = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    opened_at = models.DateTimeField(default=timezone.now, help_text="When it (re)opened last.")
    closed_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # The state a snooze returns to when it ends (open or acknowledged).
    snoozed_from = models.CharField(max_length=12, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases")
    sla_due_at = models.DateTimeField(null=True, blank=True)
    reason_code = models.CharField(max_length=32, blank=True)
    reason_comment = models.CharField(max_length=1000, blank=True)
    # Bumped by every workflow change (not by a fold): a handler acts on the version they saw.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    ACTIVE_STATES = (State.OPEN, State.ACKNOWLEDGED, State.SNOOZED)
    CLOSED_STATES = (State.RESOLVED, State.IGNORED)

    class Meta:
        ordering = ["-severity", "sla_due_at", "-last_seen_at", "-id"]
        indexes = [
            # The queues: active cases by state, most severe and most due first.
            models.Index(
                fields=["state", "-severity", "sla_due_at"],
                name="case_active_queue",
                condition=Q(state__in=["open", "acknowledged", "snoozed"]),
            ),
            models.Index(fields=["plant", "state"], name="case_plant_state"),
            models.Index(fields=["supplier", "state"], name="case_supplier_state"),
            models.Index(fields=["assignee", "state"], name="case_assignee_state"),
            models.Index(fields=["team", "state"], name="case_team_state"),
            models.Index(fields=["snoozed_until"], name="case_snoozed_until", condition=Q(state="snoozed")),
        ]

    def __str__(self) -> str:
        return f"case {self.pk}: {self.title}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES


class Occurrence(models.Model):
    """One thing that made a case, named by where it lives (`source`) and its id there."""

    class Source(models.TextChoices):
        REJECTED = "rejected", "Refused message"
        DELIVERY = "delivery", "Delivery"
        # A business rule's finding on one business key; ref_id is `exceptions.rules.base.rule_ref`
        # of the rule and key, so the finding clears when the rule finds the key fine again.
        RULE = "rule", "Business rule"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="occurrence_rows")
    source = models.CharField(max_length=16, choices=Source.choices)
    ref_id = models.BigIntegerField()
    # When it happened at its source (a delivery dead-lettered again is a new occurrence).
    occurred_at = models.DateTimeField()
    # Set when its cause is gone (delivered by a retry, resubmitted and accepted).
    cleared_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "source", "ref_id"], name="occurrence_unique_ref"),
        ]
        indexes = [
            models.Index(fields=["source", "ref_id"], name="occurrence_by_ref"),
            models.Index(fields=["case", "cleared_at"], name="occurrence_open"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.ref_id} in case {self.case_id}"


class CaseEntry(models.Model):
    """One line of a case's history. `actor` is empty when the tower itself acted."""

    class Action(models.TextChoices):
        OPENED = "opened", "Opened"
        REOPENED = "reopened", "Reopened"
        SELF_RESOLVED = "self_resolved", "Resolved itself"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ASSIGNED = "assigned", "Assigned"
        SNOOZED = "snoozed", "Snoozed"
        WOKE = "woke", "Snooze ended"
        RESOLVED = "resolved", "Resolved"
        IGNORED = "ignored", "Ignored"
        COMMENTED = "commented", "Commented"
        RETRIED = "retried", "Delivery retried"
        RESUBMITTED = "resubmitted", "Message resubmitted"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="entries")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, help_text="Kept when the user is deleted.")
    action = models.CharField(max_length=16, choices=Action.choices)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "case entries"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["case", "at"], name="case_entry_by_case")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} case {self.case_id}"


class RuleThreshold(models.Model):
    """A business rule's threshold for a scope; the most specific row wins (see
    `exceptions.rules.thresholds`). Each rule reads `value` in its own unit (%, days, minutes)."""

    class Rule(models.TextChoices):
        ASN_QUANTITY = "asn_quantity", "Quantity: ASN vs PO line (tolerance %)"
        RECEIPT_QUANTITY = "receipt_quantity", "Quantity: receipt vs ASN (tolerance %)"
        DATE_CONFLICT = "date_conflict", "Date conflict: days a confirmation may pass the need date"
        PRODUCTION_AT_RISK = "production_at_risk", "Production at risk: buffer before start (minutes)"
        RECONCILIATION = "reconciliation", "Reconciliation: minutes a receipt may wait for its posting"
        SOURCE_SILENT = "source_silent", "Source silent: times its usual gap between messages"

    rule = models.CharField(max_length=24, choices=Rule.choices)
    plant = models.ForeignKey(Plant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    material = models.CharField(max_length=40, blank=True, help_text="A material number; empty: all.")
    value = models.DecimalField(
        max_digits=10, decimal_places=2, help_text="In the rule's unit (see the rule)."
    )
    enabled = models.BooleanField(default=True, help_text="Off: the rule opens no case in this scope.")

    class Meta:
        ordering = ["rule", "plant__code", "supplier__code", "material"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="rule_threshold_value_ge_0"),
        ]

    def __str__(self) -> str:
        parts = (self.plant and self.plant.code, self.supplier and self.supplier.code, self.material)
        scope = "/".join(part for part in parts if part)
        return f"{self.get_rule_display()} {scope or 'default'}: {self.value}"

    def clean(self) -> None:
        # One row per scope (checked here: NULL plant/supplier defeat a plain unique index, and
        # SQLite has no NULLS NOT DISTINCT). The admin is the only writer.
        from django.core.exceptions import ValidationError

        twins = RuleThreshold.objects.filter(
            rule=self.rule, plant=self.plant_id, supplier=self.supplier_id, material=self.material.strip()
        ).exclude(pk=self.pk)
        if twins.exists():
            raise ValidationError("A threshold for this rule and scope exists already; change that one.")
        self.material = self.material.strip()
