"""One attempt in process, over real HTTP to a sandbox receiver: per-target auth and what an
attempt records."""

from __future__ import annotations

import pytest

from integrations.delivery.models import Delivery, DeliveryAttempt, Target
from integrations.delivery.services.delivering import delivery_attempt
from integrations.sandbox.models import SandboxReceiver
from integrations.sandbox.selectors import sandbox_receipts_in_arrival_order
from integrations.sandbox.services import sandbox_receiver_upsert
from tests.controltower.test_encryption import raw_secret
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("auth", "secret", "expected"),
    [("bearer", "tok-123", "tok-123"), ("basic", "erp-user:pa55", "erp-user:pa55"), ("hmac", "k3y", "k3y")],
)
def test_each_auth_kind_is_accepted_by_a_receiver_expecting_it_and_refused_when_wrong(
    client, network, asgi_server, make_target, subscribe, auth, secret, expected
):
    receiver = sandbox_receiver_upsert(code="erp", auth_kind=auth, secret=expected)
    target = make_target("erp-post", url=f"{asgi_server}/sandbox/erp/", auth=auth, secret=secret)
    subscribe(target, "purchase_order.released")
    post_events(client, network["erp"], po_released(event_id="evt-auth"))
    delivery = Delivery.objects.get()
    # The secrets are encrypted at rest (tests/controltower/test_encryption.py); the worker and
    # the receiver read them in clear.
    assert expected not in raw_secret(Target, target.pk) and expected not in raw_secret(
        SandboxReceiver, receiver.pk
    )
    assert delivery_attempt(delivery_id=delivery.pk) == "delivered"
    assert sandbox_receipts_in_arrival_order(receiver="erp").get().idempotency_key == delivery.idempotency_key

    Target.objects.filter(pk=target.pk).update(secret=secret + "-wrong")
    Delivery.objects.filter(pk=delivery.pk).update(status="pending", attempts=0)
    assert delivery_attempt(delivery_id=delivery.pk) == "dead_lettered"  # 401: refused, not retried
    attempt = DeliveryAttempt.objects.order_by("-number").first()
    assert (attempt.status_code, attempt.error_class) == (401, "http_4xx")
    assert attempt.latency_ms is not None and attempt.response_excerpt  # the target's answer, kept


def test_an_unreachable_target_is_a_connection_error_and_is_retried(client, network, make_target, subscribe):
    target = make_target("nowhere", url="http://127.0.0.1:9/", max_attempts=3, backoff_seconds=10.0)
    subscribe(target, "purchase_order.released")
    post_events(client, network["erp"], po_released(event_id="evt-nowhere"))
    delivery = Delivery.objects.get()
    assert delivery_attempt(delivery_id=delivery.pk) == "retrying"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error_class, delivery.attempts) == ("retrying", "connection", 1)
    assert delivery_attempt(delivery_id=delivery.pk) == "skipped"  # not due yet: no second send
