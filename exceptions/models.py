"""Exception cases: what a handler owns, works and closes.

- `Case` is one problem, however often it happens: occurrences with the same fingerprint (kind,
  system/target, error class, business key, and the plant/supplier it belongs to) fold into it,
  with a count and first/last seen. A resolved case reopens when it recurs.
- `Occurrence` is one thing that made the case (a refused message, a dead-lettered delivery, …),
  named by its source and id; the case closes itself once every occurrence's cause is gone.
- `CaseEntry` is the case's history: who did what, when, before → after, with a comment.
- `Team` is a handlers' queue (routing rules send cases to one).
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
