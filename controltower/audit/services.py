"""Recording operator actions."""

from __future__ import annotations

from typing import Any

from controltower.audit.models import AuditEntry


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: Any,
    summary: str,
    reason: str = "",
    details: dict | None = None,
) -> AuditEntry:
    """Append one entry: `actor` did `action` to `obj` (a model instance). Call it inside the
    transaction of the change, so the log and the change commit or roll back together."""
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=str(getattr(actor, "username", "") or actor or "system")[:150],
        action=action,
        object_type=obj._meta.label_lower if hasattr(obj, "_meta") else type(obj).__name__.lower(),
        object_id=str(getattr(obj, "pk", "") or ""),
        summary=summary[:300],
        reason=(reason or "")[:500],
        details=details or {},
    )
