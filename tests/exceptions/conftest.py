"""Builders for exception-queue tests: refused messages and dead letters made by the real
intake and delivery services, a stub target outside our product, and handlers."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from controltower.accounts.roles import Role
from integrations.delivery.models import Delivery, Subscription, Target
from integrations.delivery.services.delivering import delivery_attempt
from integrations.models import RejectedMessage
from tests.conftest import wait_for
from tests.exceptions.rule_events import senders  # noqa: F401 — the business-rule tests' network
from tests.factories import po_released, post_events


def broken_po(
    po: str = "4500012345", *, event_id: str | None = None, source: str = "ERP-CLOUD", **data
) -> dict:
    """A purchase_order.released whose first line's quantity is not a number."""
    event = po_released(po, event_id=event_id, source=source, **data)
    event["data"]["lines"][0]["quantity"] = "lots"
    return event


@pytest.fixture
def refuse(client, network):
    """Post a broken purchase order from `sender` through intake; the refused message."""

    def make(sender: str = "mes_north", **kwargs) -> RejectedMessage:
        source = network[sender].system.code
        response = post_events(client, network[sender], broken_po(source=source, **kwargs))
        assert response.status_code == 400, response.content
        return RejectedMessage.objects.order_by("-id").first()

    return make


class StubTarget:
    """A receiving system we do not own, answering `status` to every POST."""

    def __init__(self) -> None:
        stub = self
        self.status = 503

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(stub.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/in"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub_target():
    stub = StubTarget()
    yield stub
    stub.stop()


@pytest.fixture
def erp_target(db, stub_target):
    """A target that gives up at the first failure, subscribed to purchase orders."""
    target = Target.objects.create(
        code="erp-post",
        name="ERP posting",
        url=stub_target.url,
        max_attempts=1,
        timeout_seconds=5.0,
        circuit_threshold=1000,  # the circuit would hold back the storms these tests make
    )
    Subscription.objects.create(name="POs", target=target, event_types=["purchase_order.released"])
    return target


@pytest.fixture
def dead_letter(client, network, erp_target, stub_target):
    """Post a valid purchase order and have its delivery dead-lettered for real (the stub
    target answers 503 and the policy allows one attempt)."""

    def make(po: str = "4500012345", **kwargs) -> Delivery:
        stub_target.status = 503
        response = post_events(client, network["erp"], po_released(po, **kwargs))
        assert response.status_code in (200, 201, 202), response.content
        delivery = Delivery.objects.order_by("-id").first()
        if delivery_attempt(delivery_id=delivery.pk) != "dead_lettered":
            # A test running a real worker: the worker took the delivery first (after commit).
            wait_for(
                lambda: Delivery.objects.get(pk=delivery.pk).status == "dead_lettered",
                timeout=30,
                what="the worker to dead-letter the delivery",
            )
        delivery.refresh_from_db()
        return delivery

    return make


def deliver_again(delivery: Delivery, stub_target: StubTarget) -> None:
    """The target is back and the delivery is sent again (as a retry round starts it)."""
    stub_target.status = 200
    Delivery.objects.filter(pk=delivery.pk).update(status="pending", attempts=0)
    assert delivery_attempt(delivery_id=delivery.pk) == "delivered"


@pytest.fixture
def handler(make_user):
    return make_user("hanna", Role.EXCEPTION_HANDLER)


@pytest.fixture
def north_handler(make_user, plants):
    return make_user("nils", Role.EXCEPTION_HANDLER, everything=False, plants=[plants["north"]])
