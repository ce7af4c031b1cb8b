"""Opening, folding, reopening and self-resolving cases: the one place a case comes to be.

A source (refused messages, dead letters, later each business rule) describes what it saw as
`Sighting`s; `cases_open_or_fold` turns them into cases. Sightings with the same fingerprint
fold into one case (a target down for an hour is one case with its count, not 5,000). The
first sighting opens the case, a sighting after it was resolved reopens it, and an ignored
case only counts. `occurrences_clear` is the way back: once every occurrence of a case has
lost its cause (the dead letter was delivered by a retry, the refused message was resubmitted
and accepted), the case resolves itself and its history says why.

Race safety: the case row is created with `INSERT … ON CONFLICT DO NOTHING` on its unique
fingerprint and then locked (`SELECT … FOR UPDATE`) before anything is folded into it, so two
workers seeing the same fingerprint at once make one case and count both. Both paths lock the
case before its occurrences, in id order, so they cannot deadlock each other.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from exceptions.models import Case, CaseEntry, Occurrence
from exceptions.services.history import OPENING_FIELDS, case_announce, case_history_record, case_snapshot
from exceptions.services.routing import ROUTING_FIELDS, case_route
from exceptions.services.sla import sla_due

OPENED, REOPENED, FOLDED, UNCHANGED = "opened", "reopened", "folded", "unchanged"
#: Resolution reason the tower writes when a case resolves itself.
CAUSE_GONE = "cause_gone"


def fingerprint_of(
    *,
    kind: str,
    system_id: int | None,
    target_id: int | None,
    error_class: str,
    business_key: str,
    plant_id: int | None,
    supplier_id: int | None,
) -> str:
    """The identity of a problem. Plant and supplier are part of it so that each case belongs
    to one scope (a plant's handler sees the case of their plant's deliveries, not another's)."""
    parts = (
        kind,
        system_id or "",
        target_id or "",
        error_class,
        business_key,
        plant_id or "",
        supplier_id or "",
    )
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()


@dataclass(frozen=True)
class Sighting:
    """One occurrence of a problem, as its source describes it."""

    kind: str
    source: str  # an Occurrence.Source
    ref_id: int
    occurred_at: datetime
    title: str
    summary: str
    severity: int = Case.Severity.MEDIUM
    error_class: str = ""
    business_key: str = ""
    system_id: int | None = None
    target_id: int | None = None
    plant_id: int | None = None
    supplier_id: int | None = None
    trace_id: int | None = None
    detail: str = ""
    evidence: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(
            kind=self.kind,
            system_id=self.system_id,
            target_id=self.target_id,
            error_class=self.error_class,
            business_key=self.business_key,
            plant_id=self.plant_id,
            supplier_id=self.supplier_id,
        )


@dataclass(frozen=True)
class Outcome:
    case: Case
    result: str  # OPENED, REOPENED, FOLDED or UNCHANGED
    added: int


def cases_open_or_fold(*, sightings: Iterable[Sighting]) -> list[Outcome]:
    """Open or fold a case per fingerprint, each in its own transaction (in fingerprint order).

    Idempotent: a sighting already counted (same source and id, not newer, not cleared) adds
    nothing, so the sweeper and a late task may see the same thing again."""
    groups: dict[str, list[Sighting]] = defaultdict(list)
    for sighting in sightings:
        groups[sighting.fingerprint].append(sighting)
    return [_open_or_fold(fingerprint, groups[fingerprint]) for fingerprint in sorted(groups)]


def _new_case(fingerprint: str, latest: Sighting, first_seen: datetime, now: datetime) -> Case:
    return Case(
        fingerprint=fingerprint,
        kind=latest.kind,
        severity=latest.severity,
        error_class=latest.error_class[:200],
        business_key=latest.business_key[:255],
        system_id=latest.system_id,
        target_id=latest.target_id,
        trace_id=latest.trace_id,
        plant_id=latest.plant_id,
        supplier_id=latest.supplier_id,
        title=latest.title[:300],
        summary=latest.summary,
        evidence=latest.evidence,
        occurrences=0,  # 0 marks "just inserted, nothing folded yet" for whoever locks it first
        first_seen_at=first_seen,
        last_seen_at=latest.occurred_at,
        opened_at=now,
        sla_due_at=sla_due(severity=latest.severity, opened_at=now),
        created_at=now,
        updated_at=now,
    )


@transaction.atomic
def _open_or_fold(fingerprint: str, sightings: list[Sighting]) -> Outcome:
    now = timezone.now()
    by_ref = {(s.source, s.ref_id): s for s in sorted(sightings, key=lambda s: s.occurred_at)}
    latest = max(by_ref.values(), key=lambda s: s.occurred_at)
    first_seen = min(s.occurred_at for s in by_ref.values())
    Case.objects.bulk_create([_new_case(fingerprint, latest, first_seen, now)], ignore_conflicts=True)
    case = Case.objects.select_for_update().get(fingerprint=fingerprint)
    added = _occurrences_add(case, by_ref)
    if not added:
        return Outcome(case, UNCHANGED, 0)
    is_new = case.occurrences == 0
    before = case_snapshot(case)
    case.occurrences += added
    case.first_seen_at = min(case.first_seen_at, first_seen)
    case.last_seen_at = max(case.last_seen_at, latest.occurred_at)
    case.updated_at = now
    if latest.occurred_at >= case.last_seen_at:  # the newest occurrence describes the case
        case.title, case.summary, case.evidence = latest.title[:300], latest.summary, latest.evidence
        case.trace_id = latest.trace_id or case.trace_id
    case.severity = max(case.severity, latest.severity)
    if is_new:
        routed = case_route(case=case)
        case.save()
        case_history_record(
            case=case,
            actor=None,
            action=CaseEntry.Action.OPENED,
            after=case_snapshot(case, OPENING_FIELDS + ROUTING_FIELDS),
            comment=f"{case.summary}\n{routed}",
        )
        return Outcome(case, OPENED, added)
    if case.state == Case.State.RESOLVED:
        case.state = Case.State.OPEN
        case.opened_at = now
        case.closed_at = None
        case.reason_code = case.reason_comment = ""
        case.sla_due_at = sla_due(severity=case.severity, opened_at=now)
        case.version += 1
        routed = case_route(case=case)
        case.save()
        case_history_record(
            case=case,
            actor=None,
            action=CaseEntry.Action.REOPENED,
            before=before,
            after=case_snapshot(case),
            comment=f"It happened again: {latest.summary}\n{routed}",
        )
        return Outcome(case, REOPENED, added)
    # A fold only counts: no history line per occurrence (a storm would bury the history), and
    # no new version (a handler acting on the case is not told it "changed" by a count).
    case.save()
    case_announce(case)
    return Outcome(case, FOLDED, added)


def _occurrences_add(case: Case, by_ref: dict[tuple[str, int], Sighting]) -> int:
    """Record the sightings the case does not hold yet (or holds cleared or older); returns how
    many are new occurrences. The caller holds the case's lock."""
    known = {
        (row.source, row.ref_id): row
        for row in Occurrence.objects.filter(
            case=case,
            source__in={source for source, _ in by_ref},
            ref_id__in=[ref_id for _, ref_id in by_ref],
        )
    }
    new, rearmed = [], []
    for key, sighting in by_ref.items():
        row = known.get(key)
        if row is None:
            new.append(
                Occurrence(
                    case=case,
                    source=sighting.source,
                    ref_id=sighting.ref_id,
                    occurred_at=sighting.occurred_at,
                    detail=sighting.detail[:500],
                )
            )
        elif row.cleared_at is not None or sighting.occurred_at > row.occurred_at:
            row.occurred_at, row.cleared_at, row.detail = sighting.occurred_at, None, sighting.detail[:500]
            rearmed.append(row)
    Occurrence.objects.bulk_create(new)
    Occurrence.objects.bulk_update(rearmed, ["occurred_at", "cleared_at", "detail"])
    return len(new) + len(rearmed)


def occurrences_clear(*, source: str, ref_ids: Iterable[int], why: str) -> list[Case]:
    """The causes `source`/`ref_ids` are gone: clear their occurrences, and resolve each active
    case that has none left, saying `why` in its history. Returns the cases resolved.
    Idempotent: cleared occurrences stay cleared, a closed case is left alone."""
    ref_ids = list(ref_ids)
    if not ref_ids:
        return []
    case_ids = sorted(
        set(
            Occurrence.objects.filter(source=source, ref_id__in=ref_ids, cleared_at__isnull=True).values_list(
                "case_id", flat=True
            )
        )
    )
    resolved = []
    for case_id in case_ids:
        with transaction.atomic():
            case = Case.objects.select_for_update().filter(pk=case_id).first()
            if case is None:
                continue
            now = timezone.now()
            Occurrence.objects.filter(
                case=case, source=source, ref_id__in=ref_ids, cleared_at__isnull=True
            ).update(cleared_at=now)
            if not case.is_active or case.occurrence_rows.filter(cleared_at__isnull=True).exists():
                continue
            before = case_snapshot(case)
            case.version += 1
            case.state = Case.State.RESOLVED
            case.closed_at = case.updated_at = now
            case.snoozed_until, case.snoozed_from = None, ""
            case.reason_code, case.reason_comment = CAUSE_GONE, why[:1000]
            case.save()
            case_history_record(
                case=case,
                actor=None,
                action=CaseEntry.Action.SELF_RESOLVED,
                before=before,
                after=case_snapshot(case),
                comment=why,
            )
            resolved.append(case)
    return resolved
