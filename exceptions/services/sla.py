"""When a case is due: a handling time per severity (routing rules may later refine it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings


def sla_due(*, severity: int, opened_at: datetime) -> datetime:
    """`opened_at` plus the handling time of `severity` (settings.EXCEPTIONS_SLA_HOURS)."""
    hours = settings.EXCEPTIONS_SLA_HOURS.get(int(severity), 24)
    return opened_at + timedelta(hours=hours)
