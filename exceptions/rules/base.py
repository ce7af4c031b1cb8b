"""What every business rule shares: its findings, their references, and numbers in words.

A rule looks at a batch of business keys (a PO line, a shipment, a trace's milestone, …) and
says, for each key it checked, either "here is a problem" (a `Sighting` of its case kind) or
"this key is fine" (the key's reference, so a case it opened before resolves itself). The key's
reference is a stable number derived from the rule and the key (`rule_ref`), stored as the
occurrence's `ref_id` under `Occurrence.Source.RULE`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from exceptions.models import Case, Occurrence
from exceptions.services.opening import Sighting


def rule_ref(rule: str, key: str) -> int:
    """A stable positive 63-bit number for `rule`'s finding on `key` (fits a BigIntegerField)."""
    digest = hashlib.sha256(f"{rule}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass
class Findings:
    """What the rules found in one batch: sightings to open or fold, and keys found fine
    (per rule, with the sentence the resolved case's history will carry)."""

    sightings: list[Sighting] = field(default_factory=list)
    fine: dict[str, set[int]] = field(default_factory=dict)  # why → refs

    def problem(self, sighting: Sighting) -> None:
        self.sightings.append(sighting)

    def ok(self, ref: int, why: str) -> None:
        self.fine.setdefault(why, set()).add(ref)


def finding(
    *,
    rule: str,
    key: str,
    kind: str,
    occurred_at: datetime,
    title: str,
    summary: str,
    evidence: dict,
    severity: int = Case.Severity.MEDIUM,
    plant_id: int | None = None,
    supplier_id: int | None = None,
    system_id: int | None = None,
    trace_id: int | None = None,
) -> Sighting:
    """A rule's sighting of a problem on `key`: one case per rule, key and scope."""
    return Sighting(
        kind=kind,
        source=Occurrence.Source.RULE,
        ref_id=rule_ref(rule, key),
        occurred_at=occurred_at,
        title=title[:300],
        summary=summary,
        severity=severity,
        error_class=rule,
        business_key=key[:255],
        system_id=system_id,
        plant_id=plant_id,
        supplier_id=supplier_id,
        trace_id=trace_id,
        detail=summary[:500],
        evidence={"rule": rule, **evidence},
    )


def number(value: float | Decimal | int) -> str:
    """A quantity as a planner writes it: 480, 12.5, 1,200 (no trailing zeros)."""
    value = Decimal(str(value)).normalize()
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,f}"


def percent(value: float | Decimal) -> str:
    return f"{number(round(Decimal(str(value)), 2))} %"


def within(actual: float, expected: float, tolerance_pct: float) -> bool:
    """Whether `actual` lies within `tolerance_pct` % of `expected` (both sides)."""
    if expected == 0:
        return actual == 0
    return abs(actual - expected) <= abs(expected) * tolerance_pct / 100 + 1e-9


@dataclass
class Batch:
    """The events one rules task looks at, and what every rule reads once per batch."""

    facts: list  # of facts.Fact, oldest first
    thresholds: object  # thresholds.Thresholds
    now: datetime

    def of_type(self, *types: str) -> list:
        return [fact for fact in self.facts if fact.type in types]
