"""What a trace page and the trace list say must be true: the state's reason, quality holds,
what the event count counts, clock skew, and times in the viewer's zone (the API stays UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from controltower.traces.models import Trace, TraceMilestone
from controltower.traces.services import correlate_events
from controltower.traces.services.milestones import traces_mark_overdue
from tests.traces.conftest import PO_A, cloudevent, example, ingest

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _purchase_order_hop(**fields) -> dict:
    """A delivered middleware hop report naming only PO_A (no other business object)."""
    hop = example("integration.telemetry", po_number=PO_A, status="delivered", **fields)
    for name in (
        "shipment_id",
        "receipt_id",
        "production_order",
        "customer_order",
        "tracking_number",
        "error",
    ):
        hop.pop(name)
    return hop


def _release(systems, at: datetime) -> Trace:
    time = at.isoformat().replace("+00:00", "Z")
    ids = ingest(
        systems["erp"],
        cloudevent(
            "purchase_order.released", example("purchase_order.released"), source="ERP-CLOUD", time=time
        ),
    )
    correlate_events(event_ids=ids)
    return Trace.objects.get(root__key=PO_A)


def test_a_late_trace_says_which_milestone_was_due_when_on_its_page_and_in_the_list(client, viewer, systems):
    released = datetime(2026, 11, 27, 8, 15, tzinfo=UTC)
    trace = _release(systems, released)
    traces_mark_overdue(now=timezone.now())
    client.force_login(viewer)

    page = _text(client.get(f"/traces/{trace.pk}/").content.decode())
    assert "Late Supplier confirmed due 2026-11-28 08:15, none yet" in page
    listing = _text(client.get("/traces/").content.decode())
    assert "Late Supplier confirmed due 2026-11-28 08:15, none yet" in listing


def test_a_complete_trace_shows_its_quality_holds_on_the_page_and_in_the_list(client, viewer, systems):
    order = example("production_order.released")["production_order"]
    released = {k: v for k, v in example("production_order.released").items() if k != "customer_order"}
    steps = [
        ("production_order.released", released, "2026-11-27T06:00:00Z"),
        ("production_order.started", example("production_order.started"), "2026-11-27T07:00:00Z"),
        ("operation.completed", example("operation.completed", final=True), "2026-11-27T09:00:00Z"),
    ]
    for action, at in (("hold", "2026-11-27T09:10:00Z"), ("release", "2026-11-27T10:00:00Z")):
        quality = example("quality.exception", action=action, occurred_at=at, production_order=order)
        for name in ("po_number", "receipt_id", "supplier"):
            quality.pop(name)
        steps.append(("quality.exception", quality, at))
    ids = ingest(systems["mes"], *(cloudevent(t, d, source="MES-NORTH", time=at) for t, d, at in steps))
    correlate_events(event_ids=ids)
    trace = Trace.objects.get(flow="make")
    assert trace.state == Trace.State.COMPLETE
    client.force_login(viewer)

    page = client.get(f"/traces/{trace.pk}/").content.decode()
    assert 'id="trace-quality"' in page
    text = _text(page)
    assert "1 quality hold, released" in text
    assert "lot L25-0318-G held 2026-11-27 09:10" in text and "released 2026-11-27 10:00" in text
    listing = _text(client.get("/traces/").content.decode())
    assert "Complete" in listing and "1 quality hold, released" in listing


def test_the_event_count_says_how_many_are_business_events_and_how_many_middleware_hops(
    client, viewer, systems, traces
):
    hop = _purchase_order_hop(message_id="msg-1")
    correlate_events(
        event_ids=ingest(systems["erp"], cloudevent("integration.telemetry", hop, source="ERP-CLOUD"))
    )
    trace = Trace.objects.get(root__key=PO_A)
    assert trace.event_count == 4
    client.force_login(viewer)

    page = client.get(f"/traces/{trace.pk}/").content.decode()
    assert page.count('class="timeline-row"') == 3
    assert "4: 3 business events (timeline), 1 middleware hop report (integration hops)" in _text(page)


def test_an_event_received_before_its_business_time_is_flagged_as_clock_skew_not_a_lag(
    client, viewer, systems
):
    ahead = (timezone.now() + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    trace = _release(systems, datetime.fromisoformat(ahead))
    client.force_login(viewer)

    row = client.get(f"/traces/{trace.pk}/").content.decode().split('class="timeline-row"')[1]
    assert "clock skew" in row
    assert not re.search(r"-\d+\.\d s", row)


def test_pages_show_times_in_the_viewers_zone_and_the_api_keeps_utc(client, viewer, systems):
    trace = _release(systems, datetime(2026, 11, 27, 8, 15, tzinfo=UTC))
    client.force_login(viewer)
    client.cookies["tz"] = "Europe/Berlin"

    page = _text(client.get(f"/traces/{trace.pk}/").content.decode())
    assert "2026-11-27 09:15:00 CET" in page  # started: 08:15 UTC is 09:15 in Berlin in November
    assert "Business time (Europe/Berlin)" in page
    detail = client.get(f"/api/v1/traces/{trace.pk}").json()
    assert detail["first_event_at"].startswith("2026-11-27T08:15:00") and detail["first_event_at"].endswith(
        "Z"
    )


def test_an_unknown_or_hostile_zone_cookie_falls_back_to_utc(client, viewer, systems):
    trace = _release(systems, datetime(2026, 11, 27, 8, 15, tzinfo=UTC))
    client.force_login(viewer)
    for value in ("Mars/Olympus", "../../etc/passwd", "Europe", "\x00"):
        client.cookies["tz"] = value
        response = client.get(f"/traces/{trace.pk}/")
        assert response.status_code == 200
        assert "2026-11-27 08:15:00 UTC" in _text(response.content.decode())


def test_a_blanket_orders_page_folds_its_object_list_and_shows_the_first_hop_reports(client, viewer, systems):
    line = example("purchase_order.released")["lines"][0]
    lines = [{**line, "line": 10 * n} for n in range(1, 16)]  # 15 lines: 15 po_line objects
    ids = ingest(
        systems["erp"],
        cloudevent(
            "purchase_order.released", example("purchase_order.released", lines=lines), source="ERP-CLOUD"
        ),
    )
    hop = _purchase_order_hop()
    storm = [
        cloudevent("integration.telemetry", {**hop, "message_id": f"msg-{n}"}, source="ERP-CLOUD")
        for n in range(105)
    ]
    ids += ingest(systems["erp"], *storm)
    correlate_events(event_ids=ids)
    trace = Trace.objects.get(root__key=PO_A)
    client.force_login(viewer)

    page = client.get(f"/traces/{trace.pk}/").content.decode()
    objects = _text(page.split('id="trace-objects"')[1].split("</section>")[0])
    assert (
        "po_line" in objects and "and 3 more" in objects and f"{PO_A}/90" not in objects
    )  # keys sort as text
    assert page.count('class="hop-row"') == 100 and 'id="hops-more"' in page
    assert client.get(f"/api/v1/traces/{trace.pk}").json()["objects"]["po_line"][-1] == f"{PO_A}/90"


def test_the_next_check_is_not_called_a_deadline_when_it_is_the_at_risk_point(client, viewer, systems):
    """`next_due_at` is when a pending milestone turns at risk (or late), which comes before the
    milestone's own deadline: the page named it 'Next deadline' beside a different due time."""
    trace = _release(systems, timezone.now().replace(microsecond=0))
    traces_mark_overdue(now=timezone.now())
    trace.refresh_from_db()
    upcoming = TraceMilestone.objects.filter(trace=trace, state="pending").exclude(expected_by=None)
    assert trace.next_due_at < min(m.expected_by for m in upcoming), "the at-risk point comes first"
    client.force_login(viewer)
    page = _text(client.get(f"/traces/{trace.pk}/").content.decode())
    assert "Next deadline" not in page
    assert "Next check" in page and "when a pending milestone turns at risk or late" in page
