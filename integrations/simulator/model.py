"""The simulator's vocabulary: steps, flows, fault probabilities, simulated clock, numbering.

Pure Python. Everything random comes from a `random.Random` handed in, so a seed reproduces the
same flows (ids, numbers, quantities, faults) exactly.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from integrations.contracts import contract_get

StepKind = Literal["cloudevent", "epcis", "raw"]
MINUTE = 60.0


@dataclass(frozen=True)
class Step:
    """One message a system sends, `due` simulated seconds after its flow started.

    `kind` says how it travels: "cloudevent" (payload: a CloudEvent dict), "epcis" (payload: an
    EPCIS 2.0 document dict) or "raw" (payload: bytes posted as-is in structured mode).
    """

    due: float
    system: str
    kind: StepKind
    payload: dict[str, Any] | bytes
    note: str

    @property
    def type(self) -> str:
        """The CloudEvent type, "epcis" for EPCIS documents, "" for raw bytes."""
        if self.kind == "cloudevent" and isinstance(self.payload, dict):
            return str(self.payload.get("type", ""))
        return "epcis" if self.kind == "epcis" else ""


@dataclass
class Flow:
    """A business flow: its kind, its main business key and its steps in due order."""

    kind: str
    key: str
    steps: list[Step]
    faults: list[str] = field(default_factory=list)  # "<fault>: <detail>", for logs and tests

    def ordered(self) -> Flow:
        self.steps.sort(key=lambda s: s.due)  # stable: equal dues keep their business order
        return self

    @property
    def duration(self) -> float:
        return max((s.due for s in self.steps), default=0.0)


@dataclass(frozen=True)
class FaultMix:
    """Per-flow probabilities of each injected fault (0 = never, 1 = every flow that can have it).

    Transport faults (any flow): `malformed` (one message is broken JSON or violates its
    contract), `duplicates` (one message is sent twice), `out_of_order` (one message arrives
    after the one that followed it). Business faults (procure-to-receive): `missing_confirmations`,
    `late_confirmations`, `quantity_mismatch` (received ≠ shipped), `delays` (per shipment: a
    delayed milestone with a new ETA), `date_conflicts` (a line confirmed days after the
    requested date), `asn_mismatch` (an ASN line ships less than confirmed),
    `production_at_risk` (a production order needing a shipment's material starts just after
    its ETA, and the shipment is delayed past it), `quality_holds` (quality holds a received
    lot, and releases it again only sometimes), `reconciliation` (the ERP never posts a goods
    receipt, or books another quantity than the WMS counted). Per flow too, `target_outages`:
    the chance that a demo delivery target goes down for a few minutes (see `outages`).
    """

    malformed: float = 0.03
    duplicates: float = 0.03
    out_of_order: float = 0.05
    missing_confirmations: float = 0.05
    late_confirmations: float = 0.05
    quantity_mismatch: float = 0.05
    delays: float = 0.10
    date_conflicts: float = 0.05
    asn_mismatch: float = 0.05
    production_at_risk: float = 0.05
    quality_holds: float = 0.04
    reconciliation: float = 0.04
    target_outages: float = 0.02

    @classmethod
    def none(cls) -> FaultMix:
        return cls(**{name: 0.0 for name in cls.__dataclass_fields__})

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault probability {name} must be between 0 and 1, not {value}")


@dataclass(frozen=True)
class Clock:
    """Maps a flow's simulated seconds to wall-clock time: `speed` simulated seconds per real one.

    Business timestamps are taken where the step will really be sent, so an event's time is
    "now" when it arrives (unless it is deliberately held back).
    """

    start: datetime
    speed: float

    def at(self, sim_seconds: float) -> datetime:
        return self.start + timedelta(seconds=sim_seconds / self.speed)

    def utc(self, sim_seconds: float) -> str:
        """RFC 3339 UTC with 'Z', whole seconds (CloudEvents `time`, EPCIS `creationDate`)."""
        return self.at(sim_seconds).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def local(self, sim_seconds: float, time_zone: str) -> str:
        """RFC 3339 with the site's offset, whole seconds, as a plant or supplier system writes it."""
        return self.at(sim_seconds).astimezone(ZoneInfo(time_zone)).isoformat(timespec="seconds")

    def offset(self, sim_seconds: float, time_zone: str) -> str:
        """The site's UTC offset as +hh:mm (EPCIS `eventTimeZoneOffset`)."""
        return self.local(sim_seconds, time_zone)[-6:]

    def date(self, sim_seconds: float, time_zone: str, *, days: int = 0) -> str:
        return (
            self.at(sim_seconds).astimezone(ZoneInfo(time_zone)).date() + timedelta(days=days)
        ).isoformat()


class Numbers:
    """Business number series (PO 45000xxxxx, receipts 50000xxxxx, …), unique within a run.

    Each series starts at a seeded random point and counts up with small random gaps, as real
    number ranges look when other processes draw from them too.
    """

    SERIES: dict[str, tuple[str, int, int]] = {  # name: (format, lowest, highest)
        "po": ("45000{:05d}", 10_000, 89_999),
        "receipt": ("50000{:05d}", 10_000, 89_999),
        "material_document": ("51000{:05d}", 10_000, 89_999),
        "production_order": ("10000{:04d}", 1_000, 8_999),
        "transfer": ("49000{:05d}", 10_000, 89_999),
        "asn": ("ASN-{:08d}", 10_000_000, 89_999_999),
        "delivery": ("8000{:04d}", 1_000, 8_999),
        "customer_order": ("SO-7{:05d}", 10_000, 89_999),
        "confirmation": ("AB-{:06d}", 100_000, 899_999),
        "notification": ("QN-{:06d}", 200_000, 899_999),
        "serial": ("{:d}", 1_000_000, 800_000_000),
    }

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._next = {
            name: rng.randint(low, (low + high) // 2) for name, (_, low, high) in self.SERIES.items()
        }

    def next(self, series: str) -> str:
        template, low, high = self.SERIES[series]
        value = self._next[series]
        self._next[series] = value + 1 if value < high else low  # wraps only after ~80 000 draws
        if self._rng.random() < 0.3:
            self._next[series] += self._rng.randint(1, 3)
        return template.format(value)


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng` (reproducible, unlike uuid.uuid4())."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def fill(pattern: str, rng: random.Random) -> str:
    """A number shaped like `pattern`: 9 = digit, A = upper-case letter or digit."""
    alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    return "".join(
        str(rng.randint(0, 9)) if c == "9" else rng.choice(alphabet) if c == "A" else c for c in pattern
    )


def cloudevent(
    rng: random.Random,
    *,
    system: str,
    type_: str,
    time: str,
    data: dict[str, Any],
    subject: str | None = None,
) -> dict[str, Any]:
    """A structured-mode CloudEvent from `system` (its registered source) for contract `type_`."""
    contract = contract_get(type_)
    if contract is None:  # a programming error: the simulator only emits known contracts
        raise KeyError(f"no contract {type_!r}")
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": new_uuid(rng),
        "source": system,
        "type": type_,
        "time": time,
        "datacontenttype": "application/json",
        "dataschema": contract.schema_uri,
    }
    if subject:
        event["subject"] = subject
    event["data"] = data
    return event


def ce_step(
    rng: random.Random,
    clock: Clock,
    due: float,
    system: str,
    type_: str,
    data: dict[str, Any],
    note: str,
    *,
    subject: str | None = None,
) -> Step:
    """A CloudEvent step whose `time` is the moment it is due."""
    event = cloudevent(rng, system=system, type_=type_, time=clock.utc(due), data=data, subject=subject)
    return Step(due=due, system=system, kind="cloudevent", payload=event, note=note)


def compact(data: dict[str, Any]) -> dict[str, Any]:
    """`data` without None values (optional contract fields are left out, not null)."""
    return {key: value for key, value in data.items() if value is not None}


@dataclass
class FlowContext:
    """What a flow generator draws from: randomness, the clock, number series and fault odds."""

    rng: random.Random
    clock: Clock
    numbers: Numbers
    faults: FaultMix
    epcis_share: float = 0.2

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def minutes(self, low: float, high: float) -> float:
        """A random span in simulated seconds, between `low` and `high` minutes."""
        return self.rng.uniform(low, high) * MINUTE
