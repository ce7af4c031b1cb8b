"""Every change to a case is written three times, in the change's transaction: the case's own
history (`CaseEntry`), the audit log, and an announcement (`Kind.CASE_CHANGED`) for live pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models

from controltower.audit.services import audit_record
from controltower.changes import Kind, announce
from exceptions.models import Case, CaseEntry

#: The fields a history entry shows before → after.
#: What an opened case's first history line shows.
OPENING_FIELDS = ("state", "severity", "sla_due_at")
WORKFLOW_FIELDS = (
    "state",
    "severity",
    "assignee",
    "team",
    "snoozed_until",
    "sla_due_at",
    "reason_code",
    "reason_comment",
)


def _plain(value: Any) -> Any:
    """A field's value as the history keeps it (JSON: names and ISO times, not objects)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(getattr(value, "username", None) or value)
    return value


def case_snapshot(case: Case, fields: tuple[str, ...] = WORKFLOW_FIELDS) -> dict[str, Any]:
    snapshot = {name: _plain(getattr(case, name)) for name in fields}
    if "severity" in snapshot:  # as people read it, not its sort number
        snapshot["severity"] = case.get_severity_display()
    return snapshot


def case_announce(case: Case) -> None:
    announce(Kind.CASE_CHANGED, case.pk, plant_ids=case.plant_id, supplier_ids=case.supplier_id)


def case_history_record(
    *,
    case: Case,
    actor: Any,
    action: str,
    before: dict | None = None,
    after: dict | None = None,
    comment: str = "",
) -> CaseEntry:
    """Record `actor` (a user, or None for the tower itself) doing `action` to `case`: history,
    audit and announcement. Call it inside the transaction that made the change."""
    before, after = before or {}, after or {}
    changed = {name for name in after if before.get(name) != after.get(name)}
    before = {name: value for name, value in before.items() if name in changed}
    after = {name: value for name, value in after.items() if name in changed}
    person = actor if getattr(actor, "pk", None) else None
    entry = CaseEntry.objects.create(
        case=case,
        actor=person,
        actor_name=str(getattr(person, "username", "") or "control tower")[:150],
        action=action,
        before=before,
        after=after,
        comment=comment,
    )
    label = CaseEntry.Action(action).label.lower()
    audit_record(
        actor=person,
        action=f"case.{action}",
        obj=case,
        summary=f"Case {case.pk} {label}: {case.title}",
        reason=comment,
        details={"before": before, "after": after},
    )
    case_announce(case)
    return entry
