"""Idempotency under concurrency, over real HTTP to the real ASGI server."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from integrations.models import Event
from tests.factories import po_released

# Committed data: the server runs in another process and must see the network.
pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_concurrent_posts_of_one_event_store_one_row(asgi_server, network):
    payload = json.dumps(po_released(event_id="concurrent-1"))
    headers = {**network["erp"].headers, "Content-Type": "application/cloudevents+json"}

    def post(_):
        return httpx.post(f"{asgi_server}/api/v1/events", content=payload, headers=headers, timeout=30)

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))
    assert [r.status_code for r in responses] == [202] * 20
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses.count("accepted") == 1 and statuses.count("duplicate") == 19
    assert Event.objects.filter(event_id="concurrent-1").count() == 1
    assert len({r.json()["event"] for r in responses}) == 1
