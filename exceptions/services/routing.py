"""Ownership: which queue (team) and person a case goes to when it opens or reopens.

`case_route` is the one hook the opening service calls, inside the transaction that opened the
case and holding its lock. It picks the routing rule, sets the team, the assignee and the
handling time (`routing_sla`), writes the choice into the case's history (and the audit log),
and records the notices a new high-severity case calls for (`notify`).

The winning rule is the most specific active rule that matches (more of plant, supplier,
system, kind and minimum severity set), then the lower `order`, then the older rule. A case no
rule matches goes to the unassigned queue (no team, no assignee).
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from controltower.accounts.access import access_for
from controltower.accounts.roles import Capability
from exceptions.models import Case, CaseEntry, Notice, RoutingRule
from exceptions.services.history import case_history_record, case_snapshot
from exceptions.services.notify import case_owners, notices_record
from exceptions.services.routing_sla import case_sla_due

#: What a routing entry in the history shows before → after.
ROUTING_FIELDS = ("team", "assignee", "sla_due_at")


def routing_rule_for(*, case: Case, rules: list[RoutingRule] | None = None) -> RoutingRule | None:
    """The rule that routes `case` (see the module's docstring), or None: unassigned."""
    if rules is None:
        rules = list(RoutingRule.objects.filter(active=True).select_related("team", "assignee"))
    matching = [rule for rule in rules if rule.active and rule.matches(case)]
    if not matching:
        return None
    return min(matching, key=lambda rule: (-rule.specificity, rule.order, rule.pk))


def _may_own(user, case: Case) -> bool:
    """A person owns a case only if they work cases and see its plant and supplier."""
    if not user.is_active:
        return False
    access = access_for(user)
    return access.can(Capability.WORK_EXCEPTIONS) and access.scope.allows(
        plant_id=case.plant_id, supplier_id=case.supplier_id
    )


def case_route(*, case: Case) -> RoutingRule | None:
    """Route a case that just opened (or reopened): team, assignee, handling time, a history
    line saying which rule decided (or that none did), and the notices of a new high-severity
    case. The caller holds the case's lock in its transaction. Returns the rule used."""
    rule = routing_rule_for(case=case)
    before = case_snapshot(case, ROUTING_FIELDS)
    case.team = rule.team if rule else None
    case.assignee = None
    why = f"Routing rule “{rule.name}” matched." if rule else "No routing rule matched: unassigned queue."
    if rule and rule.assignee_id:
        if _may_own(rule.assignee, case):
            case.assignee = rule.assignee
        else:
            why += f" {rule.assignee} cannot work this case (role or scope), so only the team owns it."
    case.sla_due_at = case_sla_due(severity=case.severity, opened_at=case.opened_at)
    case.escalated_at = None  # a new opening gets its own handling time and escalation
    case.updated_at = timezone.now()
    case.save(update_fields=["team", "assignee", "sla_due_at", "escalated_at", "updated_at"])
    case_history_record(
        case=case,
        actor=None,
        action=CaseEntry.Action.ROUTED,
        before=before,
        after=case_snapshot(case, ROUTING_FIELDS),
        comment=why,
    )
    if case.severity >= _notify_min_severity():
        notices_record(case=case, event=Notice.Event.OPENED, recipients=case_owners(case))
    return rule


def _notify_min_severity() -> int:
    return int(settings.EXCEPTIONS_NOTIFY_MIN_SEVERITY)
