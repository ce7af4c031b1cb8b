"""Sandbox receivers for the tests, and a CloudEvent to deliver to them."""

from __future__ import annotations

import json

import pytest

from integrations.sandbox.services import sandbox_receiver_upsert


@pytest.fixture
def make_receiver(db):
    def make(code: str = "erp", **settings):
        return sandbox_receiver_upsert(code=code, **{"name": f"Test {code}", **settings})

    return make


def cloudevent(event_id: str = "evt-1", event_type: str = "purchase_order.released") -> bytes:
    """A structured-mode CloudEvent as a delivery worker would post it."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "ERP-CLOUD",
            "type": event_type,
            "time": "2026-11-27T08:15:00Z",
            "datacontenttype": "application/json",
            "data": {"po_number": "4500012345"},
        }
    ).encode()
