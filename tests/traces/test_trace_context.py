"""What the trace page puts beside the business events: the middleware's hops, refused messages
about the trace's objects, and payloads only for those allowed to read them."""

from __future__ import annotations

import pytest

from controltower.accounts.roles import Role
from controltower.traces.services import correlate_events
from integrations.models import Event, RejectedMessage, SourceSystem
from integrations.services.network import system_upsert
from tests.factories import post_events
from tests.traces.conftest import PO_A, cloudevent, example, ingest

pytestmark = pytest.mark.django_db


def _hop(message_id: str, hop: str, status: str, at: str, **extra) -> dict:
    data = {
        "message_id": message_id,
        "hop": hop,
        "status": status,
        "occurred_at": at,
        "source_system": "PORTAL-ACME",
        "target_system": "ERP-CLOUD",
        "interface": "ORDRSP_IN",
        "event_type": "supplier.confirmation",
        **extra,
    }
    return cloudevent("integration.telemetry", data, source="MIDDLEWARE", time=at)


@pytest.fixture
def middleware(db) -> SourceSystem:
    return system_upsert(code="MIDDLEWARE", name="Integration middleware", kind=SourceSystem.Kind.MIDDLEWARE)


def _confirmation_id() -> str:
    return Event.objects.get(type="supplier.confirmation").event_id


def test_hops_join_the_trace_by_message_id_without_business_identifiers(client, viewer, traces, middleware):
    carried = _confirmation_id()
    failed = _hop(
        carried,
        "ordrsp.egress",
        "failed",
        "2026-11-27T07:01:00Z",
        retry_count=0,
        error={"code": "HTTP-503", "message": "ERP unavailable", "retryable": True},
    )
    delivered = _hop(carried, "ordrsp.egress", "delivered", "2026-11-27T07:03:00Z", retry_count=1)
    unrelated = _hop("some-other-message", "ordrsp.egress", "delivered", "2026-11-27T07:03:00Z")
    correlate_events(event_ids=ingest(middleware, failed, delivered, unrelated))

    client.force_login(viewer)
    page = client.get(f"/traces/{traces[PO_A].pk}/").content.decode()
    assert page.count('class="hop-row"') == 1  # one message, two hops; the unrelated one is not here
    assert "HTTP-503" in page and "delivered after 1 failure" in page
    detail = client.get(f"/api/v1/traces/{traces[PO_A].pk}").json()
    [message] = detail["hops"]
    assert message["message_id"] == carried and message["outcome"] == "delivered"
    assert message["failures"] == 1 and [h["status"] for h in message["hops"]] == ["failed", "delivered"]
    assert message["carried_event"] == Event.objects.get(event_id=carried).pk
    assert "integration.telemetry" not in {e["type"] for e in detail["events"]}


def test_a_timeline_page_swapped_in_by_htmx_marks_its_events_hops(client, viewer, traces, middleware):
    carried = _confirmation_id()
    error = {"code": "HTTP-503", "message": "ERP unavailable", "retryable": True}
    failed = _hop(carried, "ordrsp.egress", "failed", "2026-11-27T07:01:00Z", retry_count=0, error=error)
    delivered = _hop(carried, "ordrsp.egress", "delivered", "2026-11-27T07:03:00Z", retry_count=1)
    correlate_events(event_ids=ingest(middleware, failed, delivered))

    client.force_login(viewer)
    partial = client.get(
        f"/traces/{traces[PO_A].pk}/?page=1", headers={"HX-Request": "true"}
    ).content.decode()
    assert 'id="trace-timeline"' in partial and 'id="trace-hops"' not in partial  # the timeline only
    assert "delivered after 1 failure" in partial  # read for this page's events alone


def test_hops_naming_the_po_join_even_when_the_carried_event_never_arrived(
    client, viewer, traces, middleware
):
    lost = _hop("msg-never-arrived", "ordrsp.egress", "failed", "2026-11-27T09:00:00Z", po_number=PO_A)
    lost["data"]["error"] = {"code": "TIMEOUT", "message": "No answer within 30 s"}
    correlate_events(event_ids=ingest(middleware, lost))

    client.force_login(viewer)
    [message] = client.get(f"/api/v1/traces/{traces[PO_A].pk}").json()["hops"]
    assert message["message_id"] == "msg-never-arrived" and message["outcome"] == "failed"
    assert message["carried_event"] is None
    page = client.get(f"/traces/{traces[PO_A].pk}/").content.decode()
    assert "not received by the tower" in page and "TIMEOUT" in page


def test_refused_message_naming_the_po_in_a_system_spelling_shows_on_its_trace(
    client, network, operator, traces
):
    bad = cloudevent(
        "supplier.confirmation",
        example("supplier.confirmation", po_number=f"PO-{PO_A}", confirmed_at="yesterday"),
        source="PORTAL-ACME",
    )
    response = post_events(client, network["acme"], bad)
    assert response.status_code == 400
    rejected = RejectedMessage.objects.get()
    assert ("purchase_order", f"PO-{PO_A}") in set(rejected.identifiers.values_list("kind", "value"))

    client.force_login(operator)
    page = client.get(f"/traces/{traces[PO_A].pk}/").content.decode()
    assert page.count('class="rejected-row"') == 1 and f"/rejected/{rejected.pk}/" in page
    detail = client.get(f"/api/v1/traces/{traces[PO_A].pk}").json()
    assert [r["id"] for r in detail["rejected_messages"]] == [rejected.pk]
    south = client.get("/api/v1/traces", {"plant": "P-SOUTH"}).json()["results"][0]
    assert client.get(f"/api/v1/traces/{south['id']}").json()["rejected_messages"] == []


def test_payloads_need_the_view_payloads_permission(client, network, viewer, operator, traces):
    post_events(client, network["acme"], b'{"specversion": "1.0", "broken": ')
    rejected = RejectedMessage.objects.get()
    event = Event.objects.get(type="supplier.confirmation")
    url = f"/traces/{traces[PO_A].pk}/"

    client.force_login(viewer)
    assert "<pre>" not in client.get(url).content.decode()
    detail = client.get(f"/api/v1/events/{event.pk}").json()
    assert "data" not in detail["cloudevent"] and detail["payload_hidden"] is True
    assert client.get(f"/api/v1/rejected-messages/{rejected.pk}").json()["body"] is None
    assert 'id="rejected-body-hidden"' in client.get(f"/rejected/{rejected.pk}/").content.decode()

    client.force_login(operator)
    assert "<pre>" in client.get(url).content.decode()
    detail = client.get(f"/api/v1/events/{event.pk}").json()
    assert detail["cloudevent"]["data"]["po_number"] == f"PO-{PO_A}" and detail["payload_hidden"] is False
    assert client.get(f"/api/v1/rejected-messages/{rejected.pk}").json()["body"].startswith('{"specversion"')
    assert 'id="rejected-body"' in client.get(f"/rejected/{rejected.pk}/").content.decode()


def test_each_role_that_fixes_messages_may_read_payloads(make_user):
    from controltower.accounts.access import access_for
    from controltower.accounts.roles import Capability

    allowed = {
        role: access_for(make_user(f"u-{role.value}", role)).can(Capability.VIEW_PAYLOADS) for role in Role
    }
    assert allowed == {
        Role.VIEWER: False,
        Role.OPERATOR: True,
        Role.EXCEPTION_HANDLER: True,
        Role.MANAGER: False,
        Role.ADMIN: True,
    }
