"""The demo network as data: 6 plants, 12 suppliers and the systems that talk about them.

`demo_network()` is a document for `integrations.services.network.network_load`; loading it
twice changes nothing. Pure Python (no Django), so the flow generators and their tests can
read the same codes the database is loaded with.
"""

from __future__ import annotations

from typing import Any

# (code, name, region, IANA time zone) — the same as controltower/web/demo.py, which will read
# these lists from here later.
PLANTS: list[tuple[str, str, str, str]] = [
    ("DE-STR", "Stuttgart body & assembly", "EMEA", "Europe/Berlin"),
    ("PL-WRO", "Wrocław components", "EMEA", "Europe/Warsaw"),
    ("US-CLT", "Charlotte drivetrain", "AMER", "America/New_York"),
    ("MX-QRO", "Querétaro electronics", "AMER", "America/Mexico_City"),
    ("CN-SZX", "Shenzhen modules", "APAC", "Asia/Shanghai"),
    ("IN-PNQ", "Pune castings", "APAC", "Asia/Kolkata"),
]
SUPPLIERS: list[tuple[str, str, str, str]] = [
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
# The plant's short name, for system names and owner teams ("MES Stuttgart", "Plant IT Stuttgart").
PLANT_SITES: dict[str, str] = {
    "DE-STR": "Stuttgart",
    "PL-WRO": "Wrocław",
    "US-CLT": "Charlotte",
    "MX-QRO": "Querétaro",
    "CN-SZX": "Shenzhen",
    "IN-PNQ": "Pune",
}

ERP = "ERP-CLOUD"
SUPPLIER_PORTAL = "SUPPLIER-PORTAL"
TMS = "TMS-CLOUD"
MIDDLEWARE = "MIDDLEWARE"
QMS = "QMS-CLOUD"


def mes(plant: str) -> str:
    """The code of `plant`'s MES."""
    return f"MES-{plant}"


def wms(plant: str) -> str:
    """The code of `plant`'s WMS."""
    return f"WMS-{plant}"


# Network-wide systems: (code, name, kind, owner team, criticality).
_CENTRAL: list[tuple[str, str, str, str, str]] = [
    (ERP, "S/4HANA Cloud ERP", "erp", "ERP CoE", "critical"),
    (SUPPLIER_PORTAL, "Supplier collaboration portal", "supplier_portal", "Procurement Digital", "high"),
    (TMS, "Transport management (TMS)", "tms", "Logistics IT", "high"),
    (MIDDLEWARE, "Integration platform (iPaaS)", "middleware", "Integration Platform", "critical"),
    (QMS, "Quality management (QMS)", "qms", "Quality Systems", "medium"),
]


def partner_gln(code: str) -> str:
    """The GLN the simulator's EPCIS documents use for a partner (registered with it)."""
    from integrations.simulator.catalog import check_digit, company_prefix  # catalog imports us

    body = company_prefix(code) + "00000"
    return body + check_digit(body)


def _partners(rows: list[tuple[str, str, str, str]]) -> list[dict[str, str]]:
    return [
        {"code": c, "name": n, "region": r, "time_zone": tz, "gln": partner_gln(c)} for c, n, r, tz in rows
    ]


def _plant_systems(plant: str) -> list[dict[str, Any]]:
    site = PLANT_SITES[plant]
    return [
        # The MES stops the line when it is down; the WMS stops receiving and shipping.
        {
            "code": mes(plant),
            "name": f"MES {site}",
            "kind": "mes",
            "plant": plant,
            "owner_team": f"Plant IT {site}",
            "criticality": "high",
        },
        {
            "code": wms(plant),
            "name": f"WMS {site}",
            "kind": "wms",
            "plant": plant,
            "owner_team": f"Logistics IT {site}",
            "criticality": "high",
        },
    ]


def demo_network() -> dict[str, Any]:
    """The demo network document: plants, suppliers and systems, in a stable order.

    Guarantees: the plants and suppliers are exactly `PLANTS` and `SUPPLIERS`; every system's
    CloudEvents source is its code (the `network_load` default); `SUPPLIER-PORTAL` belongs to no
    supplier (it serves all of them); each plant has an `MES-<plant>` and a `WMS-<plant>` bound
    to it. A fresh dict each call, so callers may change it.
    """
    systems: list[dict[str, Any]] = [
        {"code": code, "name": name, "kind": kind, "owner_team": team, "criticality": criticality}
        for code, name, kind, team, criticality in _CENTRAL
    ]
    for plant, *_ in PLANTS:
        systems.extend(_plant_systems(plant))
    return {"plants": _partners(PLANTS), "suppliers": _partners(SUPPLIERS), "systems": systems}


def system_codes() -> list[str]:
    """Every system code of the demo network (each is also its one registered source)."""
    return [system["code"] for system in demo_network()["systems"]]
