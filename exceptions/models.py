"""Exception cases: what a handler owns, works and closes.

- `Case` is one problem, however often it happens: occurrences with the same fingerprint (kind,
  system/target, error class, business key, and the plant/supplier it belongs to) fold into it,
  with a count and first/last seen. A resolved case reopens when it recurs.
- `Occurrence` is one thing that made the case (a refused message, a dead-lettered delivery, …),
  named by its source and id; the case closes itself once every occurrence's cause is gone.
- `CaseEntry` is the case's history: who did what, when, before → after, with a comment.
- `Team` is a handlers' queue (routing rules send cases to one).
- `RoutingRule` sends a new case to a team and optionally a person; `SlaPolicy` sets the
  handling time per severity and whom a breach escalates to.
- `Notice` is one thing someone must be told about a case (once); `Digest` is one message
  carrying the notices of one recipient; `Mailbox` paces a recipient's messages.
- `RuleThreshold` tunes a business rule (see `exceptions.rules`) for a plant, supplier and/or
  material; the rule's default applies where no row does.
Writes go through `exceptions.services`; reads through `exceptions.selectors`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
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
    email = models.EmailField(blank=True, help_text="The team's address; empty: each member's own.")
    webhook = models.ForeignKey(
        Target,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="A delivery target (e.g. a Slack or Teams incoming webhook) the team's notices go to.",
    )

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
    # Set when the handling time ran out and the case was escalated (once per opening).
    escalated_at = models.DateTimeField(null=True, blank=True)
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
        ESCALATED = "escalated", "Escalated"

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


class RoutingRule(models.Model):
    """Where a case goes when it opens: the most specific active rule that matches wins (the
    one with more criteria set), then the lower `order`. A case no rule matches is unassigned."""

    name = models.CharField(max_length=100, unique=True)
    order = models.PositiveIntegerField(default=100, help_text="Among equally specific rules, lower first.")
    active = models.BooleanField(default=True)
    plant = models.ForeignKey(Plant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    system = models.ForeignKey(
        SourceSystem, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=24, choices=Case.Kind.choices, blank=True)
    min_severity = models.PositiveSmallIntegerField(
        choices=Case.Severity.choices, null=True, blank=True, help_text="This severity or worse; empty: any."
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty: unassigned.",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Optional: a person who owns the case (a handler who sees its plant and supplier).",
    )

    CRITERIA = ("plant_id", "supplier_id", "system_id", "kind", "min_severity")

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def specificity(self) -> int:
        return sum(1 for name in self.CRITERIA if getattr(self, name) not in (None, ""))

    def matches(self, case: Case) -> bool:
        return (
            (self.plant_id is None or self.plant_id == case.plant_id)
            and (self.supplier_id is None or self.supplier_id == case.supplier_id)
            and (self.system_id is None or self.system_id == case.system_id)
            and (not self.kind or self.kind == case.kind)
            and (self.min_severity is None or case.severity >= self.min_severity)
        )


class SlaPolicy(models.Model):
    """The handling time of a severity and whom a breach escalates to. A severity without a
    policy takes settings.EXCEPTIONS_SLA_HOURS and escalates to no one (it is still marked)."""

    severity = models.PositiveSmallIntegerField(choices=Case.Severity.choices, unique=True)
    hours = models.FloatField(validators=[MinValueValidator(0.01)])
    escalate_team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The case moves here.",
    )
    escalate_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Told of the breach (a manager need not work cases).",
    )

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["-severity"]

    def __str__(self) -> str:
        return f"{self.get_severity_display()}: {self.hours:g} h"


class Notice(models.Model):
    """One thing one recipient must be told about a case. Unique, so recording it again (a
    retried task, two workers) is a no-op; it is sent in exactly one `Digest`."""

    class Event(models.TextChoices):
        OPENED = "opened", "New case"
        BREACHED = "breached", "Handling time exceeded"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notices")
    event = models.CharField(max_length=10, choices=Event.choices)
    # The case's opened_at: a case that reopens is news again, the same opening is not.
    round = models.DateTimeField()
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.CharField(max_length=40, help_text='"user:<id>" or "team:<id>".')
    created_at = models.DateTimeField(default=timezone.now)
    digest = models.ForeignKey(
        "Digest", null=True, blank=True, on_delete=models.SET_NULL, related_name="notices"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "event", "round", "channel", "recipient"], name="notice_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["channel", "recipient"], name="notice_pending", condition=Q(digest__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} of case {self.case_id} to {self.recipient} by {self.channel}"


class Mailbox(models.Model):
    """One recipient on one channel: its row lock lets one worker at a time write its digest,
    and `last_sent_at` keeps it to one message per digest interval."""

    channel = models.CharField(max_length=10, choices=Notice.Channel.choices)
    recipient = models.CharField(max_length=40)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "mailboxes"
        constraints = [models.UniqueConstraint(fields=["channel", "recipient"], name="mailbox_unique")]

    def __str__(self) -> str:
        return f"{self.recipient} by {self.channel}"


class Digest(models.Model):
    """One message to one recipient, summarising its notices. An email is sent by the notify
    task (`sent_at` once it went out); a webhook is handed to the delivery machinery as an event
    of the tower's own (`event_id`), which delivers, retries and dead-letters it."""

    channel = models.CharField(max_length=10, choices=Notice.Channel.choices)
    recipient = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)
    subject = models.CharField(max_length=300)
    body = models.JSONField(help_text="What was sent: the email's text, or the webhook's JSON.")
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    event_id = models.BigIntegerField(null=True, blank=True, help_text="The webhook's event (integrations).")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at"], name="digest_unsent", condition=Q(sent_at__isnull=True))
        ]

    def __str__(self) -> str:
        return f"digest {self.pk} to {self.recipient} by {self.channel}"


class CaseBulkJob(models.Model):
    """One action on many cases, previewed before it runs (`exceptions.services.bulk`).

    The selection is frozen at preview: `cases` holds each matching case's id and the version
    the handler previewed, so the job touches exactly the counted set and skips (and names) a
    case someone changed meanwhile, as a single action would.
    """

    class Action(models.TextChoices):
        ACKNOWLEDGE = "acknowledge", "Acknowledge"
        ASSIGN = "assign", "Assign"
        SNOOZE = "snooze", "Snooze"
        RESOLVE = "resolve", "Resolve"
        IGNORE = "ignore", "Ignore"
        COMMENT = "comment", "Comment"

    class State(models.TextChoices):
        PREVIEWED = "previewed", "Previewed"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    action = models.CharField(max_length=12, choices=Action.choices)
    params = models.JSONField(
        default=dict, help_text="The action's values: assignee, until, reason, comment."
    )
    selection = models.JSONField(default=dict, help_text="What was asked: a filter or ids.")
    cases = models.JSONField(default=list, help_text="[[case id, version previewed], …] in order.")
    total = models.PositiveIntegerField(default=0)
    position = models.PositiveIntegerField(default=0, help_text="How many of `cases` were worked.")
    succeeded = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, help_text="The first skipped cases: [{case, detail}].")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PREVIEWED)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "updated_at"], name="case_bulk_state")]

    def __str__(self) -> str:
        return f"bulk {self.action} #{self.pk} of {self.total} case(s) ({self.state})"


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
