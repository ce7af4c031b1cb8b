"""The demo network (from the simulator) and one user per role (used by `make run`)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from controltower.accounts.roles import Role
from controltower.accounts.services import user_upsert
from controltower.masterdata.models import Plant, Supplier
from integrations.delivery.demo import demo_routing_load
from integrations.services.network import network_load
from integrations.simulator.network import demo_network


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    scope: str  # "all", "plant:CODE" or "supplier:CODE"
    description: str


DEMO_USERS = [
    DemoUser("admin", Role.ADMIN, "all", "configures everything"),
    DemoUser("operator", Role.OPERATOR, "all", "retries and replays"),
    DemoUser("handler", Role.EXCEPTION_HANDLER, "all", "works exception queues"),
    DemoUser("manager", Role.MANAGER, "all", "reads KPI dashboards"),
    DemoUser("viewer", Role.VIEWER, "all", "reads everything"),
    DemoUser("stuttgart", Role.VIEWER, "plant:DE-STR", "sees only the Stuttgart plant"),
    DemoUser("valleychip", Role.VIEWER, "supplier:SUP-VALLEYCHIP", "a supplier's view"),
]


@transaction.atomic
def demo_load(*, password: str, base_url: str) -> list[DemoUser]:
    """Create or refresh the demo network (plants, suppliers, systems), its sandbox delivery
    targets (served by this app at `base_url`) and users. Idempotent."""
    network_load(document=demo_network())
    demo_routing_load(base_url=base_url)
    plants = {plant.code: plant for plant in Plant.objects.all()}
    suppliers = {supplier.code: supplier for supplier in Supplier.objects.all()}
    for demo in DEMO_USERS:
        kind, _, code = demo.scope.partition(":")
        user_upsert(
            username=demo.username,
            password=password,
            roles=[demo.role],
            sees_all_partners=kind == "all",
            plants=[plants[code]] if kind == "plant" else [],
            suppliers=[suppliers[code]] if kind == "supplier" else [],
            is_staff=demo.role == Role.ADMIN,
            is_superuser=demo.role == Role.ADMIN,
        )
    return DEMO_USERS
