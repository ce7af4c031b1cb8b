"""The demo's routing: sandbox targets served by this app, subscribed the way a plant would."""

from __future__ import annotations

import pytest

from controltower.web.demo import demo_load
from integrations.delivery.models import Subscription, Target
from integrations.sandbox.models import SandboxReceiver

pytestmark = pytest.mark.django_db


def test_demo_routing_points_sandbox_targets_at_this_app_and_is_idempotent():
    demo_load(password="pw-demo-123456", base_url="http://127.0.0.1:8000")
    subscriptions = Subscription.objects.count()
    Target.objects.filter(code="erp-inbound").update(max_attempts=9)  # an operator's change
    demo_load(password="pw-demo-123456", base_url="http://127.0.0.1:9000/")
    targets = {t.code: t for t in Target.objects.all()}
    assert set(targets) == {"erp-inbound", "portal-outbound", "tms-outbound"}
    assert targets["erp-inbound"].url == "http://127.0.0.1:9000/sandbox/erp/"
    assert targets["erp-inbound"].max_attempts == 9 and all(t.sandbox for t in targets.values())
    assert targets["erp-inbound"].system.code == "ERP-CLOUD"
    assert Subscription.objects.count() == subscriptions
    assert set(SandboxReceiver.objects.values_list("code", flat=True)) == {"erp", "portal", "tms"}
    types = {t for s in Subscription.objects.filter(target__code="tms-outbound") for t in s.event_types}
    assert "shipment.milestone" in types
