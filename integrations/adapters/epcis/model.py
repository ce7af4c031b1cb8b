"""Results of mapping an EPCIS capture document."""

from __future__ import annotations

from dataclasses import dataclass, field

from integrations.contracts import FieldError

__all__ = ["CaptureResult", "MappedEvent"]


@dataclass(frozen=True)
class MappedEvent:
    """One EPCIS event as a canonical event, ready to be stored like a CloudEvent.

    ``type`` is the contract, ``id`` the EPCIS ``eventID`` (or the derived
    ``epcis-sha256:<hex>``), ``time`` the eventTime in UTC with ``Z``, ``data`` valid against
    the contract, ``pointer`` the JSON pointer of the event in the posted document (``""`` when
    a single event was posted), ``epcis_type`` / ``biz_step`` the EPCIS event type and bizStep
    (bare CBV term, or the user-vocabulary URI). Treat ``data`` as read-only.
    """

    type: str
    id: str
    time: str
    data: dict
    pointer: str
    epcis_type: str
    biz_step: str | None


@dataclass(frozen=True)
class CaptureResult:
    """Business events, telemetry events and per-field errors of one capture document.

    Each EPCIS event ends up in exactly one of the three (an event may yield several errors).
    A document-level error leaves ``events`` and ``telemetry`` empty.
    """

    events: list[MappedEvent] = field(default_factory=list)
    telemetry: list[MappedEvent] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
