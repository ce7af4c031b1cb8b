"""The demo's routing: sandbox receivers standing in for the ERP, the supplier portal and the TMS,
and the subscriptions a manufacturer would set up, so `make run` shows deliveries, retries,
dead letters and replays without any real system."""

from __future__ import annotations

from django.db import transaction

from integrations.delivery.models import Subscription, Target
from integrations.models import SourceSystem
from integrations.sandbox.selectors import sandbox_receiver_path
from integrations.sandbox.services import sandbox_receivers_ensure_demo
from integrations.simulator.network import ERP, SUPPLIER_PORTAL, TMS

# (target code, sandbox receiver, system, name, rate/s, subscriptions: [(name, event types)])
DEMO_TARGETS = [
    (
        "erp-inbound",
        "erp",
        ERP,
        "ERP inbound API (sandbox)",
        20.0,
        [
            ("Supplier confirmations → ERP schedule lines", ["supplier.confirmation"]),
            ("ASNs → ERP inbound deliveries", ["shipment.dispatched"]),
            ("Goods receipts → ERP posting", ["goods.received"]),
            ("Production completions → ERP confirmations", ["operation.completed"]),
        ],
    ),
    (
        "portal-outbound",
        "portal",
        SUPPLIER_PORTAL,
        "Supplier portal API (sandbox)",
        10.0,
        [("Purchase orders → supplier portal", ["purchase_order.released", "purchase_order.changed"])],
    ),
    (
        "tms-outbound",
        "tms",
        TMS,
        "TMS API (sandbox)",
        10.0,
        [
            ("Shipments → TMS", ["shipment.dispatched", "customer_shipment.confirmed"]),
            ("Milestones → TMS", ["shipment.milestone"]),
        ],
    ),
]


@transaction.atomic
def demo_routing_load(*, base_url: str) -> list[Target]:
    """Create (or point at `base_url`) the demo's sandbox targets and their subscriptions.

    Idempotent: targets keep any policy someone changed since, except their URL; subscriptions
    are created once by name.
    """
    sandbox_receivers_ensure_demo()
    systems = {
        system.code: system for system in SourceSystem.objects.filter(code__in=[ERP, SUPPLIER_PORTAL, TMS])
    }
    targets = []
    for code, receiver, system, name, rate, subscriptions in DEMO_TARGETS:
        target, _ = Target.objects.update_or_create(
            code=code,
            defaults={"url": base_url.rstrip("/") + sandbox_receiver_path(code=receiver)},
            create_defaults={
                "url": base_url.rstrip("/") + sandbox_receiver_path(code=receiver),
                "name": name,
                "system": systems.get(system),
                "sandbox": True,
                "timeout_seconds": 5.0,
                "max_attempts": 5,
                "backoff_seconds": 5.0,
                "backoff_max_seconds": 120.0,
                "max_age_minutes": 60,
                "rate_per_second": rate,
                "circuit_threshold": 5,
                "circuit_probe_seconds": 30.0,
            },
        )
        for label, types in subscriptions:
            Subscription.objects.get_or_create(target=target, name=label, defaults={"event_types": types})
        targets.append(target)
    return targets
