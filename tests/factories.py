"""Builders for the event-intake tests: a small network of senders and valid CloudEvents."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

from integrations.contracts import contract_get
from integrations.models import SourceSystem
from integrations.services.network import system_upsert
from integrations.services.tokens import system_token_create

_ids = itertools.count(1)


@dataclass
class Sender:
    system: SourceSystem
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def build_network(plants, suppliers) -> dict[str, Sender]:
    """An ERP (no plant), a supplier's portal (S-ACME) and a plant's MES (P-NORTH), with tokens."""

    def sender(code, kind, **links) -> Sender:
        system = system_upsert(code=code, name=code.title(), kind=kind, **links)
        return Sender(system, system_token_create(system=system)[1])

    return {
        "erp": sender("ERP-CLOUD", SourceSystem.Kind.ERP),
        "acme": sender("PORTAL-ACME", SourceSystem.Kind.SUPPLIER_PORTAL, supplier=suppliers["acme"]),
        "mes_north": sender("MES-NORTH", SourceSystem.Kind.MES, plant=plants["north"]),
    }


def po_released(
    po: str = "4500012345", *, source: str = "ERP-CLOUD", event_id: str | None = None, **data
) -> dict:
    """A valid purchase_order.released CloudEvent (structured), for our test network."""
    body = copy.deepcopy(contract_get("purchase_order.released").example)
    body.update({"po_number": po, "supplier": "S-ACME", "plant": "P-NORTH", **data})
    return {
        "specversion": "1.0",
        "id": event_id or f"evt-{next(_ids)}",
        "source": source,
        "type": "purchase_order.released",
        "time": "2026-11-27T08:15:00Z",
        "datacontenttype": "application/json",
        "data": body,
    }


def post_events(client, sender: Sender, payload, *, content_type="application/cloudevents+json", **headers):
    import json

    body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    return client.post(
        "/api/v1/events", body, content_type=content_type, headers={**sender.headers, **headers}
    )
