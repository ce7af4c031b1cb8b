"""The demo network's master data and one user per role (used by `make run`)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from controltower.accounts.roles import Role
from controltower.accounts.services import user_upsert
from controltower.masterdata.services import plant_upsert, supplier_upsert

PLANTS = [
    ("DE-STR", "Stuttgart body & assembly", "EMEA", "Europe/Berlin"),
    ("PL-WRO", "Wrocław components", "EMEA", "Europe/Warsaw"),
    ("US-CLT", "Charlotte drivetrain", "AMER", "America/New_York"),
    ("MX-QRO", "Querétaro electronics", "AMER", "America/Mexico_City"),
    ("CN-SZX", "Shenzhen modules", "APAC", "Asia/Shanghai"),
    ("IN-PNQ", "Pune castings", "APAC", "Asia/Kolkata"),
]
SUPPLIERS = [
    ("SUP-BOSCHMANN", "Boschmann Fasteners GmbH", "EMEA", "Europe/Berlin"),
    ("SUP-NORDSTAHL", "Nordstahl Coil AB", "EMEA", "Europe/Stockholm"),
    ("SUP-POLYMERIX", "Polymerix Sp. z o.o.", "EMEA", "Europe/Warsaw"),
    ("SUP-VALLEYCHIP", "Valley Chip Distribution Inc.", "AMER", "America/Los_Angeles"),
    ("SUP-LAKESIDE", "Lakeside Bearings LLC", "AMER", "America/Chicago"),
    ("SUP-ANDINA", "Andina Harness S.A. de C.V.", "AMER", "America/Mexico_City"),
    ("SUP-PEARLRIVER", "Pearl River Precision Ltd", "APAC", "Asia/Shanghai"),
    ("SUP-HANSOL", "Hansol Battery Cells Co.", "APAC", "Asia/Seoul"),
    ("SUP-DECCAN", "Deccan Forgings Pvt Ltd", "APAC", "Asia/Kolkata"),
    ("SUP-KANTO", "Kanto Sensor Works K.K.", "APAC", "Asia/Tokyo"),
    ("SUP-ALPENGLAS", "Alpenglas AG", "EMEA", "Europe/Zurich"),
    ("SUP-IBERPACK", "Iberpack Logística S.L.", "EMEA", "Europe/Madrid"),
]


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
def demo_load(*, password: str) -> list[DemoUser]:
    """Create or refresh the demo plants, suppliers and users. Safe to run again."""
    plants = {
        code: plant_upsert(code=code, name=name, region=region, time_zone=tz)
        for code, name, region, tz in PLANTS
    }
    suppliers = {
        code: supplier_upsert(code=code, name=name, region=region, time_zone=tz)
        for code, name, region, tz in SUPPLIERS
    }
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
