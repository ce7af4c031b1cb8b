"""Writing cases: opening and folding (`opening`), a handler's workflow (`workflow`), actions
that call integrations (`actions`), keeping in step with sources (`following`)."""

from exceptions.services.errors import CaseActionError, CaseChanged
from exceptions.services.opening import Sighting, cases_open_or_fold, occurrences_clear
from exceptions.services.workflow import (
    case_acknowledge,
    case_assign,
    case_comment,
    case_ignore,
    case_reopen,
    case_resolve,
    case_snooze,
    cases_wake,
)

__all__ = [
    "CaseActionError",
    "CaseChanged",
    "Sighting",
    "case_acknowledge",
    "case_assign",
    "case_comment",
    "case_ignore",
    "case_reopen",
    "case_resolve",
    "case_snooze",
    "cases_open_or_fold",
    "cases_wake",
    "occurrences_clear",
]
