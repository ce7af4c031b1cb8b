"""CloudEvent data for the trace benchmark's planned events, shaped like the contract examples.

`event_data(spec)` is the `data` member the sending system would post: every field its contract
requires, the identifiers correlation reads, and the payload around them (lines, lots, handling
units, locations, errors) that makes a body a few hundred bytes. The seeder checks a sample of
each type against the real contracts (`integrations.contracts.validate_data`) before writing.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.traces_plan import (
    DAY,
    DESCRIPTIONS,
    ERP,
    LOCATIONS,
    MIDDLEWARE,
    PORTAL,
    PORTAL_PO_PREFIX,
    Shipment,
    Spec,
    day,
    iso,
)


def event_data(spec: Spec) -> dict:
    """The CloudEvent `data` of `spec` (a new dict each call)."""
    return _BUILDERS[spec.type](spec)


def _description(material: str) -> str:
    return DESCRIPTIONS[int(material[3:]) % len(DESCRIPTIONS)]


def _po_released(spec: Spec) -> dict:
    order = spec.order
    return {
        "po_number": order.po,
        "supplier": order.supplier,
        "plant": order.plant,
        "released_at": iso(order.released),
        "order_date": day(order.released),
        "currency": "EUR",
        "incoterms": "FCA",
        "buyer": f"Purchasing {order.plant[2:]}",
        "lines": [
            {
                "line": line.number,
                "material": line.material,
                "description": _description(line.material),
                "quantity": line.quantity,
                "unit": "EA",
                "requested_date": day(line.requested),
                "net_price": line.price,
            }
            for line in order.lines
        ],
    }


def _confirmation(spec: Spec) -> dict:
    order, revised = spec.order, spec.detail == "revised"
    return {
        "po_number": PORTAL_PO_PREFIX + order.po,
        "supplier": order.supplier,
        "plant": order.plant,
        "confirmation_id": f"AB-{order.po[-6:]}-{1 + revised}",
        "confirmed_at": iso(spec.at),
        "lines": [
            {
                "line": line.number,
                "material": line.material,
                "supplier_material": f"SM-{line.material[3:]}",
                "status": "revised" if revised and i == 0 else "confirmed",
                "quantity": line.quantity,
                "unit": "EA",
                "confirmed_date": day(line.requested + (7 * DAY if revised and i == 0 else 0)),
            }
            for i, line in enumerate(order.lines)
        ],
    }


def _lot(shipment: Shipment, index: int) -> str:
    return f"L{shipment.asn[4:]}-{index + 1}"


def _dispatched(spec: Spec) -> dict:
    shipment = spec.shipment
    data = {
        "shipment_id": shipment.asn,
        "supplier": spec.order.supplier,
        "plant": spec.order.plant,
        "dispatched_at": iso(shipment.dispatched),
        "carrier": shipment.carrier,
        "transport_mode": "road",
        "estimated_arrival": iso(shipment.eta),
        "package_count": len(shipment.items),
        "gross_weight_kg": round(sum(qty for _, _, qty in shipment.items) * 0.37, 1),
        "purchase_orders": [PORTAL_PO_PREFIX + order.po for order in shipment.orders],
        "lines": [
            {
                "line": i + 1,
                "po_number": PORTAL_PO_PREFIX + order.po,
                "po_line": line.number,
                "material": line.material,
                "quantity": qty,
                "unit": "EA",
                "lot": _lot(shipment, i),
                "handling_unit": f"3401234{int(shipment.asn[4:]) * 10 + i:011d}",
            }
            for i, (order, line, qty) in enumerate(shipment.items)
        ],
    }
    if shipment.tracking:
        data["tracking_number"] = shipment.tracking
    return data


def _milestone(spec: Spec) -> dict:
    shipment = spec.shipment
    name, city, country, unlocode = LOCATIONS[int(shipment.asn[4:]) % len(LOCATIONS)]
    data = {
        "shipment_id": shipment.asn,
        "tracking_number": shipment.tracking,
        "carrier": shipment.carrier,
        "milestone": spec.detail,
        "occurred_at": iso(spec.at),
        "estimated_arrival": iso(shipment.eta),
        "location": {"name": name, "city": city, "country": country, "unlocode": unlocode},
        "plant": spec.order.plant,
        "supplier": spec.order.supplier,
    }
    if spec.detail == "delayed":
        data["reason"] = "Traffic congestion"
    return data


def _received(spec: Spec) -> dict:
    shipment = spec.shipment
    return {
        "receipt_id": shipment.receipt,
        "plant": spec.order.plant,
        "received_at": iso(spec.at),
        "shipment_id": shipment.asn,
        "supplier": spec.order.supplier,
        "storage_location": "RM01",
        "purchase_orders": [order.po for order in shipment.orders],
        "lines": [
            {
                "line": i + 1,
                "po_number": order.po,
                "po_line": line.number,
                "material": line.material,
                "quantity": qty,
                "unit": "EA",
                "condition": "good",
                "lot": _lot(shipment, i),
            }
            for i, (order, line, qty) in enumerate(shipment.items)
        ],
    }


def _posting(spec: Spec) -> dict:
    shipment, order, failed = spec.shipment, spec.order, spec.detail == "failed"
    data = {
        "transaction": "goods_receipt",
        "reference": shipment.receipt,
        "status": "failed" if failed else "posted",
        "posted_at": iso(spec.at),
        "document_year": int(day(spec.at)[:4]),
        "erp_system": "S4P-100",
        "message_id": spec.message,
        "po_number": order.po,
        "shipment_id": shipment.asn,
        "receipt_id": shipment.receipt,
        "plant": order.plant,
        "supplier": order.supplier,
    }
    if failed:
        data["error"] = {"code": "M7/022", "message": "Quantity exceeds PO item quantity"}
    else:
        data["document_number"] = f"50{int(shipment.asn[4:]):08d}"
    return data


_HOPS = {
    "purchase_order.released": (("erp-outbound", ERP, MIDDLEWARE), ("portal-adapter", MIDDLEWARE, PORTAL)),
    "goods.received": (
        ("wms-outbound", "WMS", MIDDLEWARE),
        ("sap-po-adapter", MIDDLEWARE, ERP),
        ("erp-inbound", MIDDLEWARE, ERP),
    ),
}


def _telemetry(spec: Spec) -> dict:
    order, shipment, extra = spec.order, spec.shipment, spec.extra
    hop, source, target = _HOPS[extra["about"]][extra["hop"]]
    data = {
        "message_id": spec.message,
        "hop": hop,
        "status": spec.detail,
        "occurred_at": iso(spec.at),
        "latency_ms": extra["latency"],
        "retry_count": extra["retry"],
        "source_system": f"WMS-{order.plant}" if source == "WMS" else source,
        "target_system": target,
        "interface": "ORDERS05" if shipment is None else "WMMBID02",
        "event_type": extra["about"],
    }
    if spec.detail == "failed":
        data["error"] = {"code": "HTTP-503", "message": "Target unavailable, will retry", "retryable": True}
    if extra["bare"]:
        return data
    data.update(po_number=order.po, plant=order.plant, supplier=order.supplier)
    if shipment is not None:
        data.update(shipment_id=shipment.asn, receipt_id=shipment.receipt)
        if shipment.tracking:
            data["tracking_number"] = shipment.tracking
    return data


_BUILDERS: dict[str, Callable[[Spec], dict]] = {
    "purchase_order.released": _po_released,
    "supplier.confirmation": _confirmation,
    "shipment.dispatched": _dispatched,
    "shipment.milestone": _milestone,
    "goods.received": _received,
    "erp.posting": _posting,
    "integration.telemetry": _telemetry,
}
