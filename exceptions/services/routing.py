"""Ownership: which queue (team) and person a case goes to when it opens or reopens.

`case_route` is the one hook the opening service calls, inside the transaction that opens (or
reopens) the case and holding its lock. It picks the routing rule, sets the team, the assignee
and the handling time (`routing_sla`), and records the notices a new high-severity case calls
for (`notify`); the opening's own history line (and audit entry) shows the owner it got and says
which rule decided, so a case's history stays one line per opening.

The winning rule is the most specific active rule that matches (more of plant, supplier,
system, kind and minimum severity set), then the lower `order`, then the older rule. A case no
rule matches goes to the unassigned queue (no team, no assignee).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from controltower.accounts.access import access_for
from controltower.accounts.roles import Capability
from exceptions.models import Case, Notice, RoutingRule
from exceptions.services.notify import case_owners, notices_record
from exceptions.services.routing_sla import case_sla_due
from exceptions.services.routing_table import routing_table

#: What routing adds to the opening line of a case's history.
ROUTING_FIELDS = ("team", "assignee")


def routing_rule_for(*, case: Case, rules: Iterable[RoutingRule] | None = None) -> RoutingRule | None:
    """The rule that routes `case` (see the module's docstring), or None: unassigned."""
    if rules is None:
        rules = routing_table().rules
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


def case_route(*, case: Case) -> str:
    """Route a case that is opening (or reopening): set its team, assignee, handling time and
    escalation mark, and record the notices a high-severity opening calls for. The caller holds
    the case's lock in its transaction, then saves the case and writes its opening history line
    with the sentence returned here (which rule decided, or that none did)."""
    rule = routing_rule_for(case=case)
    case.team = rule.team if rule else None
    case.assignee = None
    why = f"Routed by rule “{rule.name}”." if rule else "No routing rule matched: unassigned queue."
    if rule and rule.assignee_id:
        if _may_own(rule.assignee, case):
            case.assignee = rule.assignee
        else:
            why += f" {rule.assignee} cannot work this case (role or scope), so only the team owns it."
    case.sla_due_at = case_sla_due(severity=case.severity, opened_at=case.opened_at)
    case.escalated_at = None  # a new opening gets its own handling time and escalation
    if case.severity >= int(settings.EXCEPTIONS_NOTIFY_MIN_SEVERITY):
        notices_record(case=case, event=Notice.Event.OPENED, recipients=case_owners(case))
    return why
