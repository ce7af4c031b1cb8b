"""Reading the audit log."""

from __future__ import annotations

from django.db.models import QuerySet

from controltower.audit.models import AuditEntry


def audit_entries_for(*, obj) -> QuerySet[AuditEntry]:
    """What operators did to `obj`, newest first."""
    return AuditEntry.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
