"""Routing and delivery: where events go, and what happened each time we tried.

- `Target` is a system we deliver to (an HTTP endpoint) with its auth, its retry policy and its
  live state (paused, circuit breaker);
- `Subscription` says which events a target receives (types, plants, suppliers) and in which
  shape (`mapping`);
- `Delivery` is the outbox row: one per (target, event), written in the intake transaction,
  with the `Idempotency-Key` the target sees on every attempt, retry and replay;
- `DeliveryAttempt` records each HTTP try (and why it was made: first try, automatic retry,
  operator retry, bulk retry, replay, drain after a pause);
- `ReplayJob` / `ReplayItem` are the bulk operations (retry dead letters by filter, replay a
  window of events to a target), with progress, cancel and verification.
Writes go through `integrations.delivery.services`; reads through `integrations.delivery.selectors`.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from controltower.encryption import EncryptedTextField
from controltower.masterdata.models import Plant, Supplier
from integrations.models import Event, RejectedMessage, SourceSystem


class Target(models.Model):
    class Auth(models.TextChoices):
        NONE = "none", "None"
        BEARER = "bearer", "Bearer token"
        BASIC = "basic", "Basic (user:password)"
        HMAC = "hmac", "HMAC signature header"

    class Circuit(models.TextChoices):
        CLOSED = "closed", "Closed"
        OPEN = "open", "Open"
        HALF_OPEN = "half_open", "Half open (probing)"

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    system = models.ForeignKey(
        SourceSystem,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="delivery_targets",
        help_text="The system behind this endpoint, if it is in the network registry.",
    )
    url = models.URLField(max_length=500)
    sandbox = models.BooleanField(default=False, help_text="A built-in sandbox receiver, not a real system.")
    active = models.BooleanField(default=True)
    auth = models.CharField(max_length=10, choices=Auth.choices, default=Auth.NONE)
    secret = EncryptedTextField(
        max_length=500,
        blank=True,
        help_text="Bearer token, user:password for basic, or the HMAC key. Encrypted at rest; never shown.",
    )
    timeout_seconds = models.FloatField(default=10.0, validators=[MinValueValidator(0.1)])
    # Retry policy.
    max_attempts = models.PositiveSmallIntegerField(default=6, validators=[MinValueValidator(1)])
    backoff_seconds = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.0)], help_text="First retry delay; doubles each time."
    )
    backoff_max_seconds = models.FloatField(default=900.0, validators=[MinValueValidator(0.0)])
    max_age_minutes = models.PositiveIntegerField(
        default=24 * 60, help_text="Dead-letter a delivery still failing this long after it was created."
    )
    rate_per_second = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.1)], help_text="Empty: no limit."
    )
    circuit_threshold = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text="Consecutive failures that open the circuit."
    )
    circuit_probe_seconds = models.FloatField(
        default=30.0, validators=[MinValueValidator(0.0)], help_text="How long the circuit stays open."
    )
    # Live state (written by services with conditional updates).
    paused = models.BooleanField(default=False)
    paused_reason = models.CharField(max_length=300, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    draining_until = models.DateTimeField(
        null=True, blank=True, help_text="A drain task holds the target until then (one drain at a time)."
    )
    circuit = models.CharField(max_length=10, choices=Circuit.choices, default=Circuit.CLOSED)
    circuit_opened_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code}{', sandbox' if self.sandbox else ''})"


class Subscription(models.Model):
    """Which events a target receives. Empty plant/supplier lists mean "any"."""

    class Mapping(models.TextChoices):
        CLOUDEVENT = "cloudevent", "Canonical event as a CloudEvent (structured JSON)"
        DATA = "data", "The event's data only (plain JSON)"

    name = models.CharField(max_length=200)
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="subscriptions")
    event_types = models.JSONField(default=list, help_text='Contract types, e.g. ["goods.received"].')
    plants = models.ManyToManyField(Plant, blank=True, related_name="+")
    suppliers = models.ManyToManyField(Supplier, blank=True, related_name="+")
    mapping = models.CharField(max_length=20, choices=Mapping.choices, default=Mapping.CLOUDEVENT)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["target__code", "name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.target.code}"


def idempotency_key(*, target_code: str, source: str, event_id: str) -> str:
    """The key a target sees for one event, the same on every attempt, retry and replay."""
    digest = hashlib.sha256(f"{target_code}\n{source}\n{event_id}".encode()).hexdigest()
    return f"ct-{digest[:40]}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        PAUSED = "paused", "Paused"
        DELIVERED = "delivered", "Delivered"
        DEAD_LETTERED = "dead_lettered", "Dead-lettered"

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    target = models.ForeignKey(Target, on_delete=models.PROTECT, related_name="deliveries")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    mapping = models.CharField(max_length=20, choices=Subscription.Mapping.choices)
    idempotency_key = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Copied from the event so filters over millions of deliveries need no join.
    type = models.CharField(max_length=100)
    plant = models.ForeignKey(Plant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts in the current round.")
    attempts_total = models.PositiveIntegerField(default=0, help_text="Attempts over the delivery's life.")
    round_cause = models.CharField(
        max_length=10, default="first", help_text="Why the current round started (see DeliveryAttempt.Cause)."
    )
    round_started_at = models.DateTimeField(default=timezone.now, help_text="Max age counts from here.")
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is delivering until then; after it, the sweeper may."
    )
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    error_class = models.CharField(max_length=32, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    dead_lettered_at = models.DateTimeField(null=True, blank=True)
    dead_letter_reason = models.CharField(max_length=500, blank=True)
    job = models.ForeignKey(
        "ReplayJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The retry or replay job driving the current round, if any.",
    )

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["target", "event"], name="delivery_unique_target_event"),
        ]
        indexes = [
            # The sweeper: due deliveries that are not being delivered.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=Q(status__in=["pending", "retrying"]),
            ),
            models.Index(fields=["status", "target", "id"], name="delivery_status_target"),
            models.Index(fields=["target", "status", "dead_lettered_at"], name="delivery_target_dead"),
            models.Index(fields=["created_at"], name="delivery_created"),
            # What a target received is matched to its delivery by key (sandbox receipts' scope).
            models.Index(fields=["idempotency_key"], name="delivery_idempotency_key"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of event {self.event_id} to {self.target_id}: {self.status}"


class DeliveryAttempt(models.Model):
    class Cause(models.TextChoices):
        FIRST = "first", "First attempt"
        RETRY = "retry", "Automatic retry"
        MANUAL = "manual", "Retried by an operator"
        BULK = "bulk", "Bulk retry"
        REPLAY = "replay", "Replay"
        DRAIN = "drain", "Drain after pause"
        PROBE = "probe", "Circuit probe"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField(help_text="Attempt number within the delivery's life.")
    cause = models.CharField(max_length=10, choices=Cause.choices)
    job = models.ForeignKey("ReplayJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_class = models.CharField(max_length=32, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    outcome = models.CharField(
        max_length=16,
        help_text="sending, delivered, retrying, dead_lettered, or interrupted (its worker died)",
    )

    class Meta:
        ordering = ["delivery", "number"]
        indexes = [models.Index(fields=["delivery", "number"], name="attempt_by_delivery")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.outcome}"


class ReplayJob(models.Model):
    class Kind(models.TextChoices):
        RETRY = "retry", "Retry dead letters"
        REPLAY = "replay", "Replay events to a target"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        CANCELLING = "cancelling", "Cancelling"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    filter = models.JSONField(help_text="The filter as given (target, type, plant, supplier, window, …).")
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    total = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.CharField(max_length=500, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    still_failing = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"


class ReplayItem(models.Model):
    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    job = models.ForeignKey(ReplayJob, on_delete=models.CASCADE, related_name="items")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="replay_items")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    enqueued = models.BooleanField(default=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    verified_status = models.CharField(
        max_length=16, blank=True, help_text="The delivery's status at verification."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "delivery"], name="replay_item_unique")]
        indexes = [models.Index(fields=["job", "outcome"], name="replay_item_outcome")]

    def __str__(self) -> str:
        return f"job {self.job_id} delivery {self.delivery_id}: {self.outcome}"


class Resubmission(models.Model):
    """A refused message fixed by an operator and sent through intake again."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected again"

    original = models.ForeignKey(RejectedMessage, on_delete=models.CASCADE, related_name="resubmissions")
    body = models.TextField(help_text="The corrected CloudEvent (structured JSON).")
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rejected_again = models.ForeignKey(
        RejectedMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    errors = models.JSONField(default=list)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"resubmission of rejected {self.original_id}: {self.state}"
