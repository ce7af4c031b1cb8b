"""A source system gone quiet against its usual rhythm.

Scheduled (beat). A system's rhythm is its average gap between messages over the look-back
window; it is quiet when nothing arrived for SOURCE_SILENT times that gap (per plant or
supplier the system belongs to), and at least `MIN_SILENCE`. Systems with fewer than
`MIN_EVENTS` messages in the window have no rhythm to judge. The case resolves itself once the
system sends again. One aggregate query per run (by the (system, received_at) index).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import Count, Max, Min

from exceptions.models import Case
from exceptions.rules.base import Findings, finding, rule_ref
from exceptions.rules.thresholds import Rule, Thresholds
from integrations.models import Event, SourceSystem

RULE = Rule.SOURCE_SILENT.value
FINE = "The system sends again."
LOOKBACK = timedelta(hours=6)
MIN_EVENTS = 12
MIN_SILENCE = timedelta(minutes=5)


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    if minutes < 1:
        return f"{span.total_seconds():.0f} s"
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def silence_check(*, findings: Findings, thresholds: Thresholds, now: datetime) -> None:
    rows = (
        Event.objects.filter(received_at__gte=now - LOOKBACK)
        .values("system_id")
        .annotate(count=Count("pk"), first=Min("received_at"), last=Max("received_at"))
        .order_by()
    )
    stats = {row["system_id"]: row for row in rows}
    systems = SourceSystem.objects.filter(pk__in=stats, active=True).only(
        "pk", "code", "name", "plant_id", "supplier_id"
    )
    for system in systems:
        row = stats[system.pk]
        ref = rule_ref(RULE, system.code)
        threshold = thresholds.of(RULE, plant_id=system.plant_id, supplier_id=system.supplier_id)
        if row["count"] < MIN_EVENTS or not threshold.enabled:
            continue
        usual = (row["last"] - row["first"]) / max(row["count"] - 1, 1)
        allowed = max(usual * threshold.value, MIN_SILENCE)
        quiet = now - row["last"]
        if quiet < allowed:
            findings.ok(ref, FINE)
            continue
        findings.problem(
            finding(
                rule=RULE,
                key=system.code,
                kind=Case.Kind.SOURCE_SILENT,
                occurred_at=row["last"],  # stable while it stays quiet: no count per run
                title=f"{system.code} has gone quiet: nothing for {_minutes(quiet)}",
                summary=(
                    f"{system.name} ({system.code}) usually sends a message every {_minutes(usual)} "
                    f"({row['count']} in the last {_minutes(LOOKBACK)}), but nothing arrived since "
                    f"{row['last'].astimezone(UTC):%Y-%m-%d %H:%M UTC} ({_minutes(quiet)}); allowed "
                    f"{threshold.value:g} × its usual gap, at least {_minutes(MIN_SILENCE)}. Check the system "
                    f"and its interface."
                ),
                severity=Case.Severity.HIGH,
                system_id=system.pk,
                plant_id=system.plant_id,
                supplier_id=system.supplier_id,
                evidence={
                    "system": system.code,
                    "messages_in_window": row["count"],
                    "window_hours": LOOKBACK.total_seconds() / 3600,
                    "usual_gap_seconds": round(usual.total_seconds(), 1),
                    "quiet_seconds": round(quiet.total_seconds(), 1),
                    "factor": threshold.value,
                    "last_message_at": row["last"].isoformat(),
                },
            )
        )
