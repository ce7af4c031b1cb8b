"""Roles and what each may do.

Roles are Django groups (so admins assign them in the admin) named after `Role`. Code never asks
"is this user an operator?"; it asks for a capability, and this table says which roles grant it.
A user may hold several roles; a superuser holds every capability.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    EXCEPTION_HANDLER = "exception_handler"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Capability(StrEnum):
    VIEW = "view"  # read pages and read APIs within scope
    # Event bodies and refused messages as received carry prices, quantities and names that
    # not every reader needs; people who fix messages do.
    VIEW_PAYLOADS = "view_payloads"
    # Put failed work right within one's scope: retry deliveries, replay, resubmit refused
    # messages. Operators and exception handlers both do.
    RECOVER = "recover"
    OPERATE = "operate"  # run the delivery machinery: pause and resume targets
    WORK_EXCEPTIONS = "work_exceptions"  # own, assign and resolve exception cases
    VIEW_DASHBOARDS = "view_dashboards"  # KPI dashboards
    CONFIGURE = "configure"  # network, contracts, subscriptions, users


ROLE_CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.VIEWER: frozenset({Capability.VIEW}),
    Role.OPERATOR: frozenset(
        {Capability.VIEW, Capability.VIEW_PAYLOADS, Capability.RECOVER, Capability.OPERATE}
    ),
    Role.EXCEPTION_HANDLER: frozenset(
        {Capability.VIEW, Capability.VIEW_PAYLOADS, Capability.RECOVER, Capability.WORK_EXCEPTIONS}
    ),
    Role.MANAGER: frozenset({Capability.VIEW, Capability.VIEW_DASHBOARDS}),
    Role.ADMIN: frozenset(Capability),
}


def capabilities_of(role_names: set[str]) -> frozenset[Capability]:
    granted: set[Capability] = set()
    for name in role_names:
        try:
            granted |= ROLE_CAPABILITIES[Role(name)]
        except ValueError:
            continue  # other groups an admin may have made carry no capability here
    return frozenset(granted)


def ensure_role_groups(**_: Any) -> None:
    from django.contrib.auth.models import Group

    for role in Role:
        Group.objects.get_or_create(name=role.value)
