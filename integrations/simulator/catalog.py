"""What the demo manufacturer buys, makes and ships, and how goods travel: flow building blocks.

Plain data plus a few lookups. Material numbers are the buyer's (the ERP's) part numbers; every
material belongs to one supplier, and each supplier delivers to the plants of its lanes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .network import PLANTS, SUPPLIERS


@dataclass(frozen=True)
class Material:
    number: str
    description: str
    unit: str
    lot_size: int  # order quantities are multiples of this
    max_lots: int
    price: float  # net price per unit
    weight: float  # kilograms per unit, for the ASN's gross weight


@dataclass(frozen=True)
class Place:
    city: str
    country: str
    latitude: float
    longitude: float
    unlocode: str | None = None


@dataclass(frozen=True)
class Product:
    """A finished good a plant makes (and ships to a customer)."""

    number: str
    description: str
    customer: str
    lot_size: int


M = Material
MATERIALS: dict[str, list[Material]] = {
    "SUP-BOSCHMANN": [
        M("RM-100271", "Hex bolt M8x30 10.9, zinc flake", "EA", 500, 40, 0.06, 0.02),
        M("RM-100274", "Flange nut M10, zinc flake", "EA", 500, 40, 0.04, 0.015),
        M("RM-100290", "Blind rivet nut M6, steel", "EA", 250, 40, 0.09, 0.005),
    ],
    "SUP-NORDSTAHL": [
        M("RM-200110", "Steel coil DC04 1.0 x 1250 mm", "KG", 1000, 60, 0.92, 1),
        M("RM-200145", "HSLA coil S420MC 2.0 x 1500 mm", "KG", 1000, 60, 1.08, 1),
    ],
    "SUP-POLYMERIX": [
        M("RM-300412", "PA66-GF30 granulate, black", "KG", 250, 40, 3.40, 1),
        M("RM-300388", "EPDM gasket 80x60", "EA", 500, 24, 0.42, 0.01),
    ],
    "SUP-VALLEYCHIP": [
        M("EL-400201", "MCU 32-bit Cortex-M4, LQFP100", "EA", 250, 40, 4.85, 0.002),
        M("EL-400233", "CAN FD transceiver, SO8", "EA", 500, 20, 0.62, 0.001),
        M("EL-400310", "DC/DC converter module 48 V/12 V", "EA", 50, 20, 38.00, 0.3),
    ],
    "SUP-LAKESIDE": [
        M("RM-500062", "Deep groove ball bearing 6205-2RS", "EA", 100, 50, 1.95, 0.13),
        M("RM-500081", "Tapered roller bearing 32008", "EA", 100, 30, 6.40, 0.24),
    ],
    "SUP-ANDINA": [
        M("RM-600014", "Wire harness, front door LH", "EA", 50, 30, 27.50, 0.9),
        M("RM-600015", "Wire harness, front door RH", "EA", 50, 30, 27.50, 0.9),
        M("RM-600102", "Engine harness, 4-cylinder", "EA", 25, 30, 112.00, 3.5),
    ],
    "SUP-PEARLRIVER": [
        M("RM-700330", "Die-cast housing ADC12, machined", "EA", 100, 40, 14.35, 1.8),
        M("RM-700412", "Bracket, zinc plated", "EA", 250, 32, 0.88, 0.12),
    ],
    "SUP-HANSOL": [
        M("EL-800021", "Li-ion cell 21700, 5.0 Ah", "EA", 1000, 40, 3.15, 0.07),
        M("EL-800090", "Battery module 48 V, 1.2 kWh", "EA", 10, 30, 412.00, 9.5),
    ],
    "SUP-DECCAN": [
        M("RM-900015", "Crankshaft forging, 4-cylinder", "EA", 50, 40, 64.00, 18),
        M("RM-900044", "Connecting rod forging", "EA", 200, 30, 7.80, 0.6),
    ],
    "SUP-KANTO": [
        M("EL-910007", "Pressure sensor 0-10 bar", "EA", 100, 50, 9.60, 0.05),
        M("EL-910019", "Hall-effect speed sensor", "EA", 250, 32, 4.10, 0.03),
    ],
    "SUP-ALPENGLAS": [
        M("RM-920001", "Windshield, laminated, acoustic", "EA", 20, 30, 148.00, 14),
        M("RM-920014", "Side window, tempered, front LH", "EA", 50, 24, 36.00, 4),
    ],
    "SUP-IBERPACK": [
        M("PK-930100", "Returnable container KLT 6428", "EA", 100, 30, 11.20, 1.9),
        M("PK-930150", "Corrugated box 600x400x300", "EA", 500, 20, 0.74, 0.45),
    ],
}

# Which plants each supplier delivers to, and how: road inside a region, sea or air across.
LANES: dict[str, list[tuple[str, str]]] = {
    "SUP-BOSCHMANN": [("DE-STR", "road"), ("PL-WRO", "road"), ("US-CLT", "sea")],
    "SUP-NORDSTAHL": [("DE-STR", "road"), ("PL-WRO", "rail")],
    "SUP-POLYMERIX": [("PL-WRO", "road"), ("DE-STR", "road")],
    "SUP-VALLEYCHIP": [("MX-QRO", "parcel"), ("US-CLT", "parcel"), ("CN-SZX", "air")],
    "SUP-LAKESIDE": [("US-CLT", "road"), ("MX-QRO", "road")],
    "SUP-ANDINA": [("MX-QRO", "road"), ("US-CLT", "road")],
    "SUP-PEARLRIVER": [("CN-SZX", "road"), ("IN-PNQ", "sea"), ("DE-STR", "sea")],
    "SUP-HANSOL": [("CN-SZX", "sea"), ("US-CLT", "sea")],
    "SUP-DECCAN": [("IN-PNQ", "road"), ("DE-STR", "sea")],
    "SUP-KANTO": [("CN-SZX", "air"), ("MX-QRO", "air"), ("DE-STR", "air")],
    "SUP-ALPENGLAS": [("DE-STR", "road")],
    "SUP-IBERPACK": [("DE-STR", "road"), ("PL-WRO", "road")],
}

PLACES: dict[str, Place] = {
    "DE-STR": Place("Stuttgart", "DE", 48.7758, 9.1829, "DESTR"),
    "PL-WRO": Place("Wrocław", "PL", 51.1079, 17.0385, "PLWRO"),
    "US-CLT": Place("Charlotte", "US", 35.2271, -80.8431, "USCLT"),
    "MX-QRO": Place("Querétaro", "MX", 20.5888, -100.3899, "MXQRO"),
    "CN-SZX": Place("Shenzhen", "CN", 22.5431, 114.0579, "CNSZX"),
    "IN-PNQ": Place("Pune", "IN", 18.5204, 73.8567, "INPNQ"),
    "SUP-BOSCHMANN": Place("Heilbronn", "DE", 49.1427, 9.2109),
    "SUP-NORDSTAHL": Place("Luleå", "SE", 65.5848, 22.1567),
    "SUP-POLYMERIX": Place("Poznań", "PL", 52.4064, 16.9252),
    "SUP-VALLEYCHIP": Place("San Jose", "US", 37.3382, -121.8863),
    "SUP-LAKESIDE": Place("Milwaukee", "US", 43.0389, -87.9065),
    "SUP-ANDINA": Place("Saltillo", "MX", 25.4383, -100.9737),
    "SUP-PEARLRIVER": Place("Dongguan", "CN", 23.0207, 113.7518),
    "SUP-HANSOL": Place("Cheongju", "KR", 36.6424, 127.4890),
    "SUP-DECCAN": Place("Kolhapur", "IN", 16.7050, 74.2433),
    "SUP-KANTO": Place("Saitama", "JP", 35.8617, 139.6455),
    "SUP-ALPENGLAS": Place("Schaffhausen", "CH", 47.6973, 8.6349),
    "SUP-IBERPACK": Place("Zaragoza", "ES", 41.6488, -0.8891),
}

# Hubs a shipment passes in transit, by (mode, destination country), else (mode, destination region).
HUBS: dict[tuple[str, str], list[Place]] = {
    ("road", "EMEA"): [
        Place("Kassel", "DE", 51.3127, 9.4797, "DEKSF"),
        Place("Poznań", "PL", 52.4064, 16.9252),
    ],
    ("rail", "EMEA"): [Place("Malmö", "SE", 55.6050, 13.0038, "SEMMA")],
    ("road", "US"): [
        Place("Atlanta", "US", 33.7490, -84.3880),
        Place("Laredo", "US", 27.5036, -99.5076, "USLRD"),
    ],
    ("road", "MX"): [
        Place("Laredo", "US", 27.5036, -99.5076, "USLRD"),
        Place("San Luis Potosí", "MX", 22.1565, -100.9855),
    ],
    ("parcel", "AMER"): [Place("Louisville", "US", 38.2527, -85.7585, "USSDF")],
    ("road", "CN"): [Place("Guangzhou", "CN", 23.1291, 113.2644, "CNCAN")],
    ("road", "IN"): [Place("Satara", "IN", 17.6805, 74.0183)],
    ("sea", "EMEA"): [
        Place("Hamburg", "DE", 53.5511, 9.9937, "DEHAM"),
        Place("Rotterdam", "NL", 51.9244, 4.4777, "NLRTM"),
    ],
    ("sea", "AMER"): [Place("Savannah", "US", 32.0809, -81.0912, "USSAV")],
    ("sea", "IN"): [Place("Nhava Sheva", "IN", 18.9490, 72.9510, "INNSA")],
    ("sea", "CN"): [Place("Yantian", "CN", 22.5800, 114.2700, "CNYTN")],
    ("air", "EMEA"): [Place("Frankfurt", "DE", 50.0379, 8.5622, "DEFRA")],
    ("air", "AMER"): [Place("Mexico City", "MX", 19.4361, -99.0719, "MXMEX")],
    ("air", "APAC"): [Place("Hong Kong", "HK", 22.3080, 113.9185, "HKHKG")],
}

# Carriers by (mode, origin country), else (mode, origin region), else (mode, "ANY"):
# (code, tracking number pattern). Pattern: 9 = a digit, A = an upper-case letter or digit.
CARRIERS: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("road", "EMEA"): [("DHLF", "JJD000390007999999"), ("DBSC", "DBS-9999999999"), ("KUNA", "KN99999999")],
    ("rail", "EMEA"): [("DBCARGO", "DBC-99999999")],
    ("road", "AMER"): [("ODFL", "99999999999"), ("JBHT", "JBH999999999")],
    ("road", "MX"): [("CASTORES", "CAS-99999999"), ("ODFL", "99999999999")],
    ("parcel", "AMER"): [("UPSN", "1ZAAAAAA0399999999"), ("FDEG", "999999999999")],
    ("road", "CN"): [("SFEXP", "SF999999999999"), ("KERRY", "KLS9999999999")],
    ("road", "IN"): [("GATI", "GKE999999999"), ("VRLL", "VRL9999999999")],
    ("sea", "ANY"): [("MAEU", "MAEU999999999"), ("COSU", "COSU9999999999"), ("HLCU", "HLCUHAM999999999")],
    ("air", "ANY"): [("DHLA", "99-9999999999"), ("LHCARGO", "020-99999999")],
}

DELAY_REASONS: dict[str, list[str]] = {
    "road": [
        "Traffic congestion on the motorway",
        "Driver rest-time regulations",
        "Truck breakdown, trailer re-hooked",
        "Border queue",
        "Snow closure on the route",
    ],
    "rail": ["Wagon defect, reloaded", "Track works, rerouted"],
    "parcel": ["Weather delay at the hub", "Missed sort, next sort"],
    "sea": [
        "Vessel rolled over to next sailing",
        "Port congestion at transhipment",
        "Customs inspection at port",
    ],
    "air": ["Flight cancelled, rebooked", "Offloaded for capacity", "Customs hold at destination airport"],
}

PRODUCTS: dict[str, list[Product]] = {
    "DE-STR": [
        Product("FG-20011", "Front door module LH", "C-31007", 60),
        Product("FG-20040", "Front axle carrier", "C-31007", 40),
    ],
    "PL-WRO": [
        Product("FG-21005", "Seat frame, front", "C-31022", 80),
        Product("FG-21020", "Brake caliper bracket", "C-31022", 200),
    ],
    "US-CLT": [
        Product("FG-22003", "e-Axle drive unit", "C-42001", 20),
        Product("FG-22018", "Transmission housing assembly", "C-42009", 30),
    ],
    "MX-QRO": [
        Product("FG-23007", "Body control module", "C-42015", 200),
        Product("FG-23011", "Instrument cluster", "C-42015", 150),
    ],
    "CN-SZX": [
        Product("FG-24002", "Battery pack 48 V", "C-53004", 30),
        Product("FG-24030", "Inverter power stage", "C-53011", 100),
    ],
    "IN-PNQ": [
        Product("FG-25001", "Cylinder head, machined", "C-64002", 60),
        Product("FG-25012", "Brake disc, vented", "C-64007", 250),
    ],
}
# A routing: the operations every production order of a plant runs through, in order.
ROUTINGS: dict[str, list[tuple[str, str]]] = {
    "DE-STR": [("0010", "PRESS-01"), ("0020", "WELD-03"), ("0030", "ASSY-02"), ("0040", "EOL-TEST")],
    "PL-WRO": [("0010", "LASER-01"), ("0020", "WELD-01"), ("0030", "PAINT-01"), ("0040", "PACK-01")],
    "US-CLT": [("0010", "CNC-04"), ("0020", "WASH-01"), ("0030", "ASSY-05"), ("0040", "DYNO-01")],
    "MX-QRO": [("0010", "SMT-02"), ("0020", "AOI-01"), ("0030", "ICT-01"), ("0040", "BOXBUILD")],
    "CN-SZX": [("0010", "CELL-STACK"), ("0020", "LASER-WELD"), ("0030", "BMS-FLASH"), ("0040", "EOL-TEST")],
    "IN-PNQ": [("0010", "CAST-02"), ("0020", "FETTLE-01"), ("0030", "CNC-07"), ("0040", "XRAY-01")],
}
BUYERS = [
    "Direct materials - M. Keller",
    "Electronics - A. Nowak",
    "Metals - J. Ortega",
    "Packaging - L. Chen",
    "Castings & forgings - R. Iyer",
]
CURRENCIES = {"EMEA": "EUR", "AMER": "USD", "APAC": "USD"}

MATERIAL_BY_NUMBER: dict[str, Material] = {m.number: m for ms in MATERIALS.values() for m in ms}
REGIONS: dict[str, str] = {code: region for code, _, region, _ in [*PLANTS, *SUPPLIERS]}
TIME_ZONES: dict[str, str] = {code: tz for code, _, _, tz in [*PLANTS, *SUPPLIERS]}


def supplies(plant: str) -> list[tuple[str, Material]]:
    """(supplier, material) pairs delivered to `plant`, in catalogue order."""
    return [
        (supplier, material)
        for supplier, lanes in LANES.items()
        if any(p == plant for p, _ in lanes)
        for material in MATERIALS[supplier]
    ]


def carriers(mode: str, origin: str) -> list[tuple[str, str]]:
    """Carriers picking up at partner `origin` by `mode`; sea and air carriers serve everyone."""
    country, region = PLACES[origin].country, REGIONS[origin]
    return CARRIERS.get((mode, country)) or CARRIERS.get((mode, region)) or CARRIERS[(mode, "ANY")]


def hubs(mode: str, destination: str) -> list[Place]:
    """Where a shipment to partner `destination` is seen in transit (may be empty)."""
    country, region = PLACES[destination].country, REGIONS[destination]
    return HUBS.get((mode, country)) or HUBS.get((mode, region)) or HUBS.get(("road", region)) or []


def company_prefix(code: str) -> str:
    """A stable 7-digit GS1 company prefix for a partner (for GLNs, SSCCs and URIs)."""
    return f"40{zlib.crc32(code.encode()) % 100_000:05d}"


def check_digit(body: str) -> str:
    """The GS1 mod-10 check digit of `body`."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def sscc(code: str, serial: int) -> str:
    """An 18-digit SSCC of partner `code`: extension 3, company prefix, 9-digit serial, check digit."""
    body = f"3{company_prefix(code)}{serial % 1_000_000_000:09d}"
    return body + check_digit(body)
