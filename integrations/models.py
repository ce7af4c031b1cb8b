"""The integration network (source systems and their tokens) and what they sent us.

`Event` is a business event exactly once per (source, id); `EventIdentifier` indexes the
business identifiers its contract declares, for correlation; `RejectedMessage` keeps every
refused message with its raw body, so nothing a source system sends is ever lost.
"""

from __future__ import annotations

import json

from django.db import models
from django.utils import timezone

from controltower.accounts.models import BearerToken
from controltower.masterdata.models import Plant, Supplier, code_validator


class SourceSystem(models.Model):
    """A system in the manufacturer's network: an ERP, a plant's MES, a supplier portal, …"""

    class Kind(models.TextChoices):
        ERP = "erp", "ERP"
        MES = "mes", "MES"
        WMS = "wms", "WMS"
        SUPPLIER_PORTAL = "supplier_portal", "Supplier portal"
        TMS = "tms", "TMS"
        QMS = "qms", "QMS"
        PLANNING = "planning", "Planning"
        ANALYTICS = "analytics", "Analytics"
        MIDDLEWARE = "middleware", "Middleware"

    class Criticality(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    code = models.CharField(max_length=32, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    plant = models.ForeignKey(Plant, null=True, blank=True, on_delete=models.PROTECT, related_name="systems")
    supplier = models.ForeignKey(
        Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="systems"
    )
    owner_team = models.CharField(max_length=100, blank=True)
    criticality = models.CharField(max_length=10, choices=Criticality.choices, default=Criticality.MEDIUM)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.get_kind_display()})"

    def source_values(self) -> frozenset[str]:
        """The CloudEvents sources of this system (from the authentication cache when there)."""
        cached = getattr(self, "registered_sources", None)
        if cached is not None:
            return cached
        return frozenset(self.sources.values_list("source", flat=True))


class SystemSource(models.Model):
    """A CloudEvents `source` value that belongs to a system (by default the system's code)."""

    system = models.ForeignKey(SourceSystem, on_delete=models.CASCADE, related_name="sources")
    source = models.CharField(max_length=255, unique=True)

    def __str__(self) -> str:
        return self.source


class SystemToken(BearerToken):
    """A source system's API token; shown once at creation (see `BearerToken`)."""

    system = models.ForeignKey(SourceSystem, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, default="default")
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute; empty uses INTAKE_RATE_LIMIT_PER_MINUTE."
    )

    class Meta(BearerToken.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.display_prefix}… ({self.system.code})"


class Event(models.Model):
    """A business event as received (canonical CloudEvent JSON), stored once per source + id."""

    class Mode(models.TextChoices):
        STRUCTURED = "structured", "Structured"
        BINARY = "binary", "Binary"
        BATCH = "batch", "Batch"
        EPCIS = "epcis", "EPCIS capture"

    class TimeBasis(models.TextChoices):
        """Where `event_time` came from: CloudEvents makes `time` optional."""

        EVENT = "event", "CloudEvents time"
        DATA = "data", "time in the data"
        RECEIPT = "receipt", "time of receipt"

    system = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="events")
    source = models.CharField(max_length=255)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    version = models.PositiveSmallIntegerField()
    subject = models.CharField(max_length=255, blank=True)
    event_time = models.DateTimeField(null=True)
    time_basis = models.CharField(
        max_length=8,
        choices=TimeBasis.choices,
        default=TimeBasis.EVENT,
        db_default=TimeBasis.EVENT,  # rows written by plain SQL (bench loaders) need no change
        help_text="Whether event_time is the CloudEvents time, the contract's own time field, or our receipt.",
    )
    received_at = models.DateTimeField(default=timezone.now)
    mode = models.CharField(max_length=12, choices=Mode.choices)
    attributes = models.JSONField(help_text="CloudEvents context and extension attributes as received.")
    data = models.JSONField()
    plant = models.ForeignKey(Plant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "event_id"], name="event_unique_source_id")]
        indexes = [
            models.Index(fields=["received_at"], name="event_received"),
            models.Index(fields=["type", "received_at"], name="event_type_received"),
            models.Index(fields=["system", "received_at"], name="event_system_received"),
            models.Index(fields=["event_time"], name="event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.source}#{self.event_id}"

    def as_cloudevent(self) -> dict:
        return {**self.attributes, "data": self.data}


class EventIdentifier(models.Model):
    """One business identifier an event names (kind + value), for correlation and search."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=32)
    value = models.CharField(max_length=255)

    class Meta:
        indexes = [models.Index(fields=["kind", "value"], name="identifier_kind_value")]
        constraints = [
            models.UniqueConstraint(fields=["event", "kind", "value"], name="identifier_unique_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class RejectedMessage(models.Model):
    """A refused message, kept whole (raw body, headers, errors) so it can be shown and fixed."""

    system = models.ForeignKey(
        SourceSystem, null=True, blank=True, on_delete=models.PROTECT, related_name="rejected_messages"
    )
    received_at = models.DateTimeField(default=timezone.now)
    endpoint = models.CharField(max_length=200)
    content_type = models.CharField(max_length=200, blank=True)
    headers = models.JSONField(default=dict, help_text="Request headers, credentials redacted.")
    body = models.BinaryField(help_text="Exactly the bytes received (or one batch element's JSON).")
    body_truncated = models.BooleanField(default=False)
    batch_index = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField()
    problem_type = models.CharField(max_length=50)
    errors = models.JSONField(default=list, help_text="[{pointer, detail}] as answered to the sender.")
    source = models.CharField(max_length=255, blank=True)
    event_id = models.CharField(max_length=255, blank=True)
    type = models.CharField(max_length=100, blank=True)
    plant = models.ForeignKey(Plant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["received_at"], name="rejected_received")]

    def __str__(self) -> str:
        return f"rejected {self.type or self.endpoint} at {self.received_at:%Y-%m-%d %H:%M:%S}"

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")

    @property
    def body_pretty(self) -> str:
        """The body indented when it is JSON, else as text; a lone surrogate or NUL shows as its
        escape, and what the parser cannot read (e.g. nesting 10,000 deep) as it arrived."""
        text = self.body_text
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            return text
        return pretty.encode("utf-8", errors="backslashreplace").decode("utf-8")


class RejectedIdentifier(models.Model):
    """A business identifier found in a refused message (read best-effort from its body), so a
    trace can show the messages about its orders that never got in."""

    rejected = models.ForeignKey(RejectedMessage, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=32)
    value = models.CharField(max_length=255)

    class Meta:
        indexes = [models.Index(fields=["kind", "value"], name="rejected_identifier_kind_value")]
        constraints = [
            models.UniqueConstraint(
                fields=["rejected", "kind", "value"], name="rejected_identifier_unique_per_message"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class CaptureJob(models.Model):
    """One EPCIS capture (the EPCIS 2.0 REST binding's capture job, `/capture/{captureID}`).

    A job holds what became of one posted document: when it ran, whether it succeeded, the
    errors (problem details, one per refused event) and the per-event results. It belongs to
    the posting system and, for people's scope, to that system's plant and supplier.
    """

    class ErrorBehaviour(models.TextChoices):
        ROLLBACK = "rollback", "Rollback (all or nothing)"
        PROCEED = "proceed", "Proceed (store the valid events)"

    capture_id = models.UUIDField(unique=True, editable=False)
    system = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="capture_jobs")
    plant = models.ForeignKey(Plant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    success = models.BooleanField(default=True)
    error_behaviour = models.CharField(max_length=10, choices=ErrorBehaviour.choices)
    counts = models.JSONField(default=dict, help_text="{accepted, duplicate, rejected} event counts.")
    results = models.JSONField(default=list, help_text="One result per EPCIS event, as answered.")
    errors = models.JSONField(default=list, help_text="Problem details, one per refused event.")
    # A document captured by a worker: what was posted, until the job has run.
    body = models.BinaryField(null=True, blank=True)
    request = models.JSONField(default=dict, help_text="{endpoint, content_type, headers} of the POST.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["system", "created_at"], name="capture_job_system_created"),
            models.Index(
                fields=["created_at"], condition=models.Q(finished_at=None), name="capture_job_running"
            ),
        ]

    def __str__(self) -> str:
        return f"capture {self.capture_id} ({self.system_id})"

    @property
    def running(self) -> bool:
        return self.finished_at is None
