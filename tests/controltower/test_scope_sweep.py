"""Every list API and every page, walked as a plant-scoped user: nothing of another plant shows.

The URLs are read from the URLconf, not listed by hand, so a list API or page added later is
walked too. Each foreign object carries a marker string; a response holding a marker leaks."""

from __future__ import annotations

import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from controltower.accounts.roles import Role
from controltower.accounts.services import personal_token_create
from controltower.traces.models import TraceEvent
from controltower.traces.services import correlate_events
from exceptions.models import Case
from exceptions.services.following import cases_follow
from integrations.delivery.models import Delivery, ReplayJob, Subscription, Target
from integrations.models import Event, RejectedMessage
from integrations.sandbox.services import sandbox_receipt_record, sandbox_receiver_upsert
from integrations.services.network import system_upsert
from integrations.services.tokens import system_token_create
from tests.conftest import PASSWORD
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db

SOUTH_PO, NORTH_PO = "4599999917", "4500000017"
SOUTH_MARKERS = (SOUTH_PO, "evt-south-17", "SOUTHMARK", "P-SOUTH")
# Paths that are not lists of scoped objects: sign-in/out, docs, health, the admin (superusers).
SKIPPED_PREFIXES = (
    "/accounts/",
    "/admin/",
    "/api/schema/",
    "/api/docs/",
    "/api/redoc/",
    "/healthz",
    "/readyz",
)


def _parameterless_paths(resolver=None, prefix: str = "") -> list[str]:
    """Every GET-able path of the URLconf that takes no parameter."""
    paths = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = str(entry.pattern).lstrip("^").rstrip("$")
        if "<" in route or "(?P" in route:
            continue
        if isinstance(entry, URLResolver):
            paths += _parameterless_paths(entry, prefix + route)
        elif isinstance(entry, URLPattern):
            paths.append("/" + prefix + route)
    return sorted({p for p in paths if not p.startswith(SKIPPED_PREFIXES)})


@pytest.fixture
def two_plants(client, network, plants, make_user):
    """P-NORTH and P-SOUTH each with an event, a trace, a delivery and its sandbox receipt, a
    refused message and a bulk job; P-SOUTH's carry the markers."""
    south_mes = system_upsert(code="MES-SOUTH", name="South MES SOUTHMARK", kind="mes", plant=plants["south"])
    south_token = system_token_create(system=south_mes)[1]
    receiver = sandbox_receiver_upsert(code="erp", name="Simulated ERP")
    target = Target.objects.create(code="erp-sandbox", name="ERP", url="http://127.0.0.1:9/sandbox/erp/")
    Subscription.objects.create(name="po", target=target, event_types=["purchase_order.released"])
    for plant, po, event_id in (("P-NORTH", NORTH_PO, "evt-north-17"), ("P-SOUTH", SOUTH_PO, "evt-south-17")):
        response = post_events(client, network["erp"], po_released(po=po, event_id=event_id, plant=plant))
        assert response.status_code < 300, response.content
    correlate_events(event_ids=list(Event.objects.values_list("id", flat=True)))
    for delivery in Delivery.objects.select_related("event"):
        sandbox_receipt_record(
            receiver=receiver,
            idempotency_key=delivery.idempotency_key,
            body=json.dumps({"id": delivery.event.event_id, "po": delivery.event.data["po_number"]}).encode(),
            content_type="application/cloudevents+json",
            headers={},
        )
    refused = client.post(
        "/api/v1/events",
        json.dumps({"specversion": "1.0", "id": "SOUTHMARK-refused", "source": "MES-SOUTH", "type": "x"}),
        content_type="application/cloudevents+json",
        headers={"Authorization": f"Bearer {south_token}"},
    )
    assert refused.status_code >= 400 and RejectedMessage.objects.filter(system=south_mes).exists()
    cases_follow(rejected_ids=RejectedMessage.objects.values_list("id", flat=True))  # an exception case
    south_admin = make_user("south-admin", Role.ADMIN, everything=False, plants=[plants["south"]])
    personal_token_create(user=south_admin, name="SOUTHMARK token")
    ReplayJob.objects.create(
        kind="retry", filter={"plant": "P-SOUTH"}, reason="SOUTHMARK", created_by=south_admin
    )
    return {"south_delivery": Delivery.objects.select_related("event").get(plant=plants["south"])}


@pytest.fixture
def north_operator(client, make_user, plants, two_plants):
    make_user("north-op", Role.OPERATOR, Role.VIEWER, everything=False, plants=[plants["north"]])
    client.logout()
    assert client.login(username="north-op", password=PASSWORD)
    return client


def _body(response) -> str:
    """The body as text; a download (the exception queue's CSV) streams, so read it whole once."""
    if not hasattr(response, "_read_body"):
        content = b"".join(response.streaming_content) if response.streaming else response.content
        response._read_body = content.decode(errors="replace")
    return response._read_body


def _leaks(response) -> list[str]:
    text = _body(response)
    return [marker for marker in SOUTH_MARKERS if marker in text]


def test_the_walk_covers_the_list_apis_and_pages():
    paths = _parameterless_paths()

    for expected in ("/api/v1/events", "/api/v1/deliveries", "/api/v1/traces", "/traces/", "/deliveries/"):
        assert expected in paths


def test_no_list_api_or_page_shows_another_plants_objects_to_a_plant_scoped_user(north_operator, two_plants):
    leaks, seen_own = {}, []
    paths = _parameterless_paths() + ["/api/v1/sandbox/receivers/erp/receipts"]
    for path in paths:
        response = north_operator.get(path)
        assert response.status_code < 500, (path, response.status_code)
        if found := _leaks(response):
            leaks[path] = found
        if NORTH_PO in _body(response) or "evt-north-17" in _body(response):
            seen_own.append(path)

    assert leaks == {}
    # The walk sees data at all: the user's own plant shows on its lists.
    assert {"/api/v1/events", "/api/v1/deliveries", "/api/v1/sandbox/receivers/erp/receipts"} <= set(seen_own)


def test_another_plants_objects_are_404_in_detail_apis_and_pages(north_operator, two_plants):
    delivery = two_plants["south_delivery"]
    event = delivery.event
    trace_id = TraceEvent.objects.filter(event=event).values_list("trace_id", flat=True).first()
    rejected = RejectedMessage.objects.get(system__code="MES-SOUTH")
    job = ReplayJob.objects.get(reason="SOUTHMARK")
    paths = [
        f"/api/v1/events/{event.pk}",
        f"/api/v1/deliveries/{delivery.pk}",
        f"/deliveries/{delivery.pk}/",
        f"/api/v1/rejected-messages/{rejected.pk}",
        f"/exceptions/{Case.objects.get(plant__code='P-SOUTH').pk}/",
        f"/rejected/{rejected.pk}/",
        f"/api/v1/replays/{job.pk}",
        f"/replays/{job.pk}/",
    ]
    assert trace_id is not None
    paths += [f"/api/v1/traces/{trace_id}", f"/traces/{trace_id}/"]

    answers = {path: north_operator.get(path).status_code for path in paths}

    assert answers == {path: 404 for path in paths}
