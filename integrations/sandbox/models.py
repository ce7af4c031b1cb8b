"""Sandbox receivers (simulated targets) and what they received.

A `SandboxReceiver` stands in for a real target system (an ERP, a supplier portal, a TMS) so a
demo or a test can deliver over real HTTP and watch retries, dead letters and replays happen. Its
behaviour is settable: an error rate and the status it answers then, latency, an outage, and the
credentials it expects. A `SandboxReceipt` is the one "effect" a request had, per
`Idempotency-Key`: repeats of a key only count up, as a real ERP API would dedupe them.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from controltower.encryption import EncryptedTextField

# Statuses an injected error may answer: client errors a target really gives (a delivery worker
# must not retry most of them) and the transient ones it must retry.
ERROR_STATUSES = (400, 408, 409, 422, 429, 500, 502, 503)
RETRY_AFTER_STATUSES = (429, 503)
MAX_LATENCY_MS = 30_000  # beyond this a receiver only ties up delivery workers
MAX_RETRY_AFTER_SECONDS = 3600


class SandboxReceiver(models.Model):
    """A simulated target system at `/sandbox/<code>/`, with settable failure behaviour."""

    class AuthKind(models.TextChoices):
        NONE = "none", "None"
        BEARER = "bearer", "Bearer token"
        BASIC = "basic", "HTTP Basic (secret is user:password)"
        HMAC = "hmac", "HMAC signature"

    code = models.SlugField(max_length=50, unique=True, help_text="Its address: /sandbox/<code>/.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    error_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of requests (0 to 1) answered with an injected error; nothing is recorded for them.",
    )
    error_status = models.PositiveSmallIntegerField(
        default=500,
        choices=[(status, str(status)) for status in ERROR_STATUSES],
        help_text="The HTTP status of an injected error.",
    )
    retry_after_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_RETRY_AFTER_SECONDS)],
        help_text="Sent as Retry-After on injected 429/503 answers and during an outage.",
    )
    latency_ms = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_LATENCY_MS)],
        help_text="Added delay (milliseconds) before answering a request that passed the checks.",
    )
    outage = models.BooleanField(
        default=False, help_text="When on, every request is answered 503 with Retry-After and not recorded."
    )
    auth_kind = models.CharField(max_length=10, choices=AuthKind.choices, default=AuthKind.NONE)
    secret = EncryptedTextField(
        max_length=255,
        blank=True,
        help_text=(
            "Bearer token, 'user:password' for basic, or the HMAC key; wrong credentials get 401. "
            "Encrypted at rest; never shown."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]
        verbose_name = "sandbox receiver"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(error_rate__gte=0.0, error_rate__lte=1.0),
                name="sandbox_receiver_error_rate_0_1",
            ),
            models.CheckConstraint(
                condition=models.Q(error_status__in=ERROR_STATUSES), name="sandbox_receiver_error_status"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} · {self.name} (sandbox)"

    def clean(self) -> None:
        if self.auth_kind != self.AuthKind.NONE and not self.secret:
            raise ValidationError({"secret": f"A secret is needed for {self.get_auth_kind_display()} auth."})
        if self.auth_kind == self.AuthKind.BASIC and ":" not in self.secret:
            raise ValidationError({"secret": "For basic auth the secret is 'user:password'."})

    @property
    def outage_retry_after(self) -> int:
        """Retry-After (seconds) during an outage: the set value, else a short default."""
        return self.retry_after_seconds if self.retry_after_seconds is not None else 10


class SandboxReceipt(models.Model):
    """What a sandbox receiver received once per Idempotency-Key: its one effect.

    The primary key grows with arrival (of a key's first request), so ordering by it lists
    receipts in the order the target first saw them."""

    receiver = models.ForeignKey(SandboxReceiver, on_delete=models.CASCADE, related_name="receipts")
    idempotency_key = models.CharField(max_length=255)
    body = models.TextField(
        blank=True, help_text="The body of the first request (UTF-8, invalid bytes replaced)."
    )
    content_type = models.CharField(max_length=200, blank=True)
    headers = models.JSONField(default=dict, help_text="Headers of the first request, credentials redacted.")
    event_type = models.CharField(max_length=100, blank=True)
    event_id = models.CharField(max_length=255, blank=True)
    first_received_at = models.DateTimeField(default=timezone.now)
    last_received_at = models.DateTimeField(default=timezone.now)
    times_received = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["id"]
        verbose_name = "sandbox receipt"
        constraints = [
            models.UniqueConstraint(
                fields=["receiver", "idempotency_key"], name="sandbox_receipt_unique_receiver_key"
            ),
            models.CheckConstraint(
                condition=models.Q(times_received__gte=1), name="sandbox_receipt_times_ge_1"
            ),
        ]
        indexes = [models.Index(fields=["receiver", "id"], name="sandbox_receipt_arrival")]

    def __str__(self) -> str:
        return f"sandbox receipt {self.idempotency_key} at {self.receiver.code}"

    def answer(self, *, duplicate: bool) -> dict:
        """The JSON a receiver answers for this receipt: the same for every repeat of its key,
        but for `duplicate`."""
        return {
            "receipt": self.pk,
            "receiver": self.receiver.code,
            "idempotency_key": self.idempotency_key,
            "duplicate": duplicate,
        }
