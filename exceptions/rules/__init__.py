"""Business rules that open cases, each in a module of its own:

- `quantity`: ASN vs PO line, receipt vs ASN (tolerance %, units normalised);
- `dates`: a confirmed or revised date after the plant's need date;
- `milestones`: missing or late milestones of a trace;
- `production`: a shipment's latest ETA past a production order's start minus a buffer;
- `quality`: a quality hold on received material;
- `reconciliation` (scheduled): WMS goods receipts against ERP postings;
- `silence` (scheduled): a source system gone quiet against its usual rhythm.

Event rules run per batch of accepted events (`rules_follow`, from the change boundary through
the `exceptions.rules` task), the milestone rule per batch of changed traces, the scheduled ones
from beat (`rules_scan`). Each rule reads its facts with one query per question per batch, never
per event, and says what it found as `Findings`; `findings_apply` opens or folds their cases
and resolves those whose cause is gone. Thresholds: `RuleThreshold` rows in the admin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from exceptions.models import Case, Occurrence
from exceptions.rules import dates, milestones, production, quality, quantity, reconciliation, silence
from exceptions.rules.base import Batch, Findings
from exceptions.rules.facts import events_by_ids
from exceptions.rules.thresholds import Thresholds
from exceptions.services.opening import cases_open_or_fold, occurrences_clear

#: The event rules, in the order they run; each declares the event types it reads (`TYPES`).
EVENT_RULES = (quantity, dates, production, quality)
EVENT_TYPES = frozenset().union(*(rule.TYPES for rule in EVENT_RULES))
#: How far back the scan looks for traces whose milestones turned late or missing.
SCAN_TRACES_BACK = timedelta(minutes=10)
SCAN_TRACES_LIMIT = 1000


@dataclass
class Applied:
    opened: int = 0
    reopened: int = 0
    folded: int = 0
    resolved: int = 0
    unchanged: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


def rules_follow(
    *, event_ids: Iterable[int] = (), trace_ids: Iterable[int] = (), now: datetime | None = None
) -> Applied:
    """Evaluate the event rules on the accepted events `event_ids` and the milestone rule on
    the traces `trace_ids`, as they are now; open, fold or resolve cases accordingly.
    Idempotent: the same ids again change nothing (a finding already counted is skipped)."""
    now = now or timezone.now()
    findings = Findings()
    facts = events_by_ids(sorted(set(event_ids)), types=EVENT_TYPES) if event_ids else []
    if facts:
        batch = Batch(facts, Thresholds.load(), now)
        for rule in EVENT_RULES:
            rule.evaluate(batch, findings)
    milestones.evaluate_traces(trace_ids, findings)
    return findings_apply(findings)


def rules_scan(*, now: datetime | None = None) -> Applied:
    """The scheduled rules (reconciliation, silence) and a catch-up of the milestone rule for
    traces that turned late or missing lately or still have an active milestone case."""
    now = now or timezone.now()
    findings = Findings()
    thresholds = Thresholds.load()
    reconciliation.reconcile(findings=findings, thresholds=thresholds, now=now)
    silence.silence_check(findings=findings, thresholds=thresholds, now=now)
    milestones.evaluate_traces(_traces_to_recheck(now), findings)
    return findings_apply(findings)


def _traces_to_recheck(now: datetime) -> set[int]:
    from controltower.traces.models import Trace

    active = Case.objects.filter(
        kind__in=[Case.Kind.LATE_MILESTONE, Case.Kind.MISSING_MILESTONE],
        state__in=Case.ACTIVE_STATES,
        trace_id__isnull=False,
    ).values_list("trace_id", flat=True)[:SCAN_TRACES_LIMIT]
    recent = Trace.objects.filter(
        state__in=[Trace.State.LATE, Trace.State.EXCEPTION], updated_at__gte=now - SCAN_TRACES_BACK
    ).values_list("pk", flat=True)[:SCAN_TRACES_LIMIT]
    return set(active) | set(recent)


def findings_apply(findings: Findings) -> Applied:
    """Open or fold the cases of `findings`' sightings and resolve the cases of keys found fine.

    Cheap when nothing changed: one query finds which sightings are already counted (same
    case, not newer) and skips them, one which fine keys any case still counts."""
    applied = Applied()
    latest = {}
    for sighting in findings.sightings:  # one per finding: the newest evidence
        known = latest.get((sighting.fingerprint, sighting.ref_id))
        if known is None or sighting.occurred_at >= known.occurred_at:
            latest[(sighting.fingerprint, sighting.ref_id)] = sighting
    refs = {ref for _, ref in latest}
    counted = {}
    if refs:
        for ref, fingerprint, occurred_at in Occurrence.objects.filter(
            source=Occurrence.Source.RULE, ref_id__in=refs, cleared_at__isnull=True
        ).values_list("ref_id", "case__fingerprint", "occurred_at"):
            counted[(fingerprint, ref)] = occurred_at
    fresh = [s for key, s in latest.items() if key not in counted or s.occurred_at > counted[key]]
    applied.unchanged = len(latest) - len(fresh)
    # One transaction for the batch (each case a savepoint within it, locked in fingerprint
    # order as `cases_open_or_fold` does): one commit per batch, not one per case.
    with transaction.atomic():
        outcomes = cases_open_or_fold(sightings=fresh) if fresh else []
    for outcome in outcomes:
        setattr(applied, outcome.result, getattr(applied, outcome.result) + 1)
        applied.kinds[outcome.case.kind] = applied.kinds.get(outcome.case.kind, 0) + 1
    fine = {why: ids - refs for why, ids in findings.fine.items()}
    candidates = set().union(*fine.values()) if fine else set()
    if candidates:
        open_refs = set(
            Occurrence.objects.filter(
                source=Occurrence.Source.RULE, ref_id__in=candidates, cleared_at__isnull=True
            ).values_list("ref_id", flat=True)
        )
        for why, ids in sorted(fine.items()):
            if ids & open_refs:
                applied.resolved += len(
                    occurrences_clear(source=Occurrence.Source.RULE, ref_ids=sorted(ids & open_refs), why=why)
                )
    return applied
