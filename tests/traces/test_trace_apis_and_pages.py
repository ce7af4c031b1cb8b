"""Traces over the API and in pages: filters, identifier search, scope, the timeline."""

from __future__ import annotations

import pytest

from controltower.accounts.roles import Role
from controltower.traces.models import TraceEvent
from integrations.models import Event
from tests.conftest import PASSWORD
from tests.traces.conftest import PO_A, PO_SOUTH

pytestmark = pytest.mark.django_db


def test_api_lists_filters_and_finds_traces_by_identifier(client, viewer, traces):
    client.force_login(viewer)
    listed = client.get("/api/v1/traces").json()["results"]
    assert {t["root"]["key"] for t in listed} == {PO_A, PO_SOUTH}
    south = client.get("/api/v1/traces", {"plant": "P-SOUTH"}).json()["results"]
    assert [t["root"]["key"] for t in south] == [PO_SOUTH]
    by_portal_spelling = client.get("/api/v1/traces", {"identifier": f"purchase_order:PO-{PO_A}"}).json()
    assert [t["root"]["key"] for t in by_portal_spelling["results"]] == [PO_A]
    bad = client.get("/api/v1/traces", {"identifier": "po:1"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "/identifier"


def test_api_trace_detail_has_objects_and_events_with_lag(client, viewer, traces):
    client.force_login(viewer)
    detail = client.get(f"/api/v1/traces/{traces[PO_A].pk}").json()
    assert detail["flow"] == "procure_to_receive" and detail["event_count"] == 3
    assert PO_A in detail["objects"]["purchase_order"] and detail["objects"]["shipment"]
    assert [e["type"] for e in detail["events"]][0] == "supplier.confirmation"  # business time order
    assert all(isinstance(e["lag_seconds"], float) for e in detail["events"])


def test_plant_scoped_user_cannot_open_another_plants_trace_by_url_or_api(client, make_user, plants, traces):
    make_user("north", Role.VIEWER, everything=False, plants=[plants["north"]])
    client.login(username="north", password=PASSWORD)
    south = traces[PO_SOUTH].pk
    assert client.get(f"/api/v1/traces/{south}").status_code == 404
    assert client.get(f"/traces/{south}/").status_code == 404
    assert client.get(f"/traces/{traces[PO_A].pk}/").status_code == 200
    assert [t["root"]["key"] for t in client.get("/api/v1/traces").json()["results"]] == [PO_A]


def test_search_box_opens_the_one_matching_trace(client, viewer, traces):
    client.force_login(viewer)
    response = client.get("/traces/", {"q": f"PO-{PO_A}"})
    assert response.status_code == 302 and response["Location"] == f"/traces/{traces[PO_A].pk}/"
    prefix = client.get("/traces/", {"q": "purchase_order:45000*"}).content.decode()
    assert PO_A in prefix and PO_SOUTH in prefix


def test_trace_page_shows_objects_and_the_timeline(client, viewer, traces):
    client.force_login(viewer)
    page = client.get(f"/traces/{traces[PO_A].pk}/").content.decode()
    assert 'id="trace-objects"' in page and page.count('class="timeline-row"') == 3
    assert "supplier.confirmation" in page and "shipment.dispatched" in page
    listing = client.get(
        "/traces/", {"flow": "procure_to_receive"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert 'id="traces-table"' in listing and "<html" not in listing


def test_trace_state_and_milestones_are_shown_and_filterable(client, viewer, traces):
    client.force_login(viewer)
    trace = traces[PO_A]
    trace.refresh_from_db()
    page = client.get(f"/traces/{trace.pk}/").content.decode()
    assert 'id="trace-milestones"' in page and 'id="trace-state"' in page
    assert page.count('class="milestone-row"') == 6  # one row per procure-to-receive milestone
    listed = client.get("/api/v1/traces", {"state": trace.state}).json()["results"]
    assert trace.pk in [t["id"] for t in listed] and all(t["state"] == trace.state for t in listed)


def test_header_search_with_a_partial_number_lists_the_matches(client, viewer, traces):
    client.force_login(viewer)
    response = client.get("/traces/", {"q": "45000"})
    assert response.status_code == 200
    page = response.content.decode()
    assert PO_A in page and PO_SOUTH in page
    one = client.get("/traces/", {"q": "4500012"})
    assert one.status_code == 302 and one["Location"] == f"/traces/{traces[PO_A].pk}/"


def test_api_trace_says_why_its_state_is_what_it_is_in_utc(client, viewer, traces):
    client.force_login(viewer)
    client.cookies["tz"] = "Asia/Tokyo"  # pages would use it; the API does not
    detail = client.get(f"/api/v1/traces/{traces[PO_A].pk}").json()
    reason = detail["state_reason"]
    assert reason["cause"] == detail["state"] == "late"
    assert reason["milestone"] == "Delivered by carrier" and reason["due"].endswith("+00:00")  # the ASN ETA


def test_an_event_timed_by_its_receipt_says_so_and_shows_no_sync_lag(client, viewer, traces):
    """CloudEvents `time` is optional; an event with no business time anywhere is timed by our
    receipt, which is not a lag of zero."""
    trace = traces[PO_A]
    members = TraceEvent.objects.filter(trace=trace).values("event_id")
    event = Event.objects.get(pk__in=members, type="shipment.dispatched")
    Event.objects.filter(pk=event.pk).update(event_time=event.received_at, time_basis=Event.TimeBasis.RECEIPT)
    client.force_login(viewer)
    detail = client.get(f"/api/v1/traces/{trace.pk}").json()
    [row] = [e for e in detail["events"] if e["pk"] == event.pk]
    assert row["time_basis"] == "receipt" and row["lag_seconds"] is None
    page = client.get(f"/traces/{trace.pk}/").content.decode()
    assert page.count("time of receipt") == 1
