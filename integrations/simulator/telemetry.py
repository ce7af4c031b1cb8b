"""Middleware hops (`integration.telemetry`) and ERP posting results (`erp.posting`).

The middleware reports each message it carries as received → transformed → delivered, with
the carried CloudEvent's id as `message_id`, so the tower can join a hop to the business event.
"""

from __future__ import annotations

from typing import Any

from .model import FlowContext, Step, ce_step, compact
from .network import ERP, MIDDLEWARE

# Interfaces as an integration team names them: (interface, hop prefix).
INTERFACES: dict[str, tuple[str, str]] = {
    "purchase_order.released": ("ORDERS05_OUT", "po-to-portal"),
    "supplier.confirmation": ("ORDRSP_IN", "ordrsp-to-erp"),
    "shipment.dispatched": ("DESADV_IN", "asn-to-erp"),
    "goods.received": ("WMMBID02", "gr-to-erp"),
    "production_order.released": ("LOIPRO_OUT", "prodorder-to-mes"),
    "customer_shipment.confirmed": ("SHPCON_IN", "goods-issue-to-erp"),
}
_RETRYABLE_ERRORS = [
    ("HTTP-503", "Target endpoint unavailable (503 Service Unavailable)"),
    ("TIMEOUT", "No answer from the target within 30 s"),
    ("HTTP-429", "Target throttled the request (429 Too Many Requests)"),
]
_POSTING_ERRORS = [
    ("M7/022", "Quantity exceeds the purchase order quantity by more than the tolerance", False),
    ("ME/064", "Purchase order item is blocked for goods receipt", False),
    ("M7/053", "Posting only possible in periods 2026/11 and 2026/10", False),
    ("M3/897", "Material is locked by another user; try again later", True),
]


def hops(
    ctx: FlowContext,
    due: float,
    carried: Step,
    *,
    source_system: str,
    target_system: str,
    refs: dict[str, Any],
    correlation_id: str,
) -> list[Step]:
    """The middleware's telemetry for carrying `carried` from `source_system` to `target_system`.

    Guarantees: received, transformed, then (after 0-2 failed attempts, each with its error and
    `retry_count`) delivered; all hops share the carried event's id as `message_id`.
    """
    event_type = carried.type
    interface, prefix = INTERFACES.get(event_type, ("GENERIC_IN", "generic"))
    message_id = str(carried.payload["id"]) if isinstance(carried.payload, dict) else correlation_id
    base = compact(
        {
            "message_id": message_id,
            "source_system": source_system,
            "target_system": target_system,
            "interface": interface,
            "event_type": event_type,
            "correlation_id": correlation_id,
            **refs,
        }
    )
    steps: list[Step] = []
    at = due + ctx.rng.uniform(1, 5)

    def hop(name: str, status: str, latency: float, **extra: Any) -> None:
        data = {
            **base,
            "hop": f"{prefix}.{name}",
            "status": status,
            "occurred_at": ctx.clock.utc(at),
            "latency_ms": round(latency),
            **extra,
        }
        steps.append(
            ce_step(
                ctx.rng,
                ctx.clock,
                at,
                MIDDLEWARE,
                "integration.telemetry",
                data,
                f"middleware {status} {event_type} ({interface})",
                subject=message_id,
            )
        )

    hop("ingress", "received", ctx.rng.uniform(4, 40))
    at += ctx.rng.uniform(1, 4)
    hop("mapping", "transformed", ctx.rng.uniform(20, 220))
    failures = ctx.rng.choice([1, 2]) if ctx.chance(0.08) else 0
    for attempt in range(failures):
        at += ctx.rng.uniform(20, 60)
        code, message = ctx.rng.choice(_RETRYABLE_ERRORS)
        hop(
            "egress",
            "failed",
            ctx.rng.uniform(2000, 30000),
            retry_count=attempt,
            error={"code": code, "message": message, "retryable": True},
        )
    at += ctx.rng.uniform(1, 6) if not failures else ctx.rng.uniform(30, 120)
    hop("egress", "delivered", ctx.rng.uniform(80, 1500), retry_count=failures)
    return steps


def posting(
    ctx: FlowContext,
    due: float,
    *,
    transaction: str,
    reference: str,
    refs: dict[str, Any],
    message_id: str | None = None,
    failure_rate: float = 0.07,
) -> Step:
    """The ERP's result for `transaction` on `reference`: mostly posted with a document number."""
    failed = ctx.chance(failure_rate)
    data: dict[str, Any] = {
        "transaction": transaction,
        "reference": reference,
        "status": "failed" if failed else "posted",
        "posted_at": ctx.clock.utc(due),
        "erp_system": "S4P-100",
        "message_id": message_id,
        **refs,
    }
    if failed:
        code, message, retryable = ctx.rng.choice(_POSTING_ERRORS)
        data["error"] = {"code": code, "message": message, "retryable": retryable}
    else:
        data["document_number"] = ctx.numbers.next("material_document")
        data["document_year"] = ctx.clock.at(due).year
    note = f"ERP {'fails to post' if failed else 'posts'} {transaction} {reference}"
    return ce_step(ctx.rng, ctx.clock, due, ERP, "erp.posting", compact(data), note, subject=reference)
