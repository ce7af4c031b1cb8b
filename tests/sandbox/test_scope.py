"""`/api/v1/sandbox/…` applies scope: a receipt is what a target received for one delivery, so it
is seen by whoever may see that delivery; a source system's token is refused outright."""

from __future__ import annotations

import pytest

from controltower.accounts.roles import Role
from integrations.delivery.models import Delivery, Subscription, Target
from integrations.sandbox.services import sandbox_receipt_record
from tests.conftest import PASSWORD
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def receipts(client, network, make_receiver):
    """The sandbox ERP received one delivery about P-NORTH, one about P-SOUTH, and one request
    posted by hand (no delivery of ours explains it).

    The deliveries are routed by the real intake; the receipts are recorded with their keys as
    the receiver records a delivery worker's POST (tests/delivery test that over HTTP)."""
    receiver = make_receiver("erp")
    target = Target.objects.create(code="erp-sandbox", name="ERP", url="http://127.0.0.1:9/sandbox/erp/")
    Subscription.objects.create(name="po", target=target, event_types=["purchase_order.released"])
    for plant, po in (("P-NORTH", "4500000001"), ("P-SOUTH", "4500000002")):
        response = post_events(
            client, network["erp"], po_released(po=po, event_id=f"evt-{plant}", plant=plant)
        )
        assert response.status_code in (200, 201, 202), response.content
    by_plant = {d.plant.code: d for d in Delivery.objects.select_related("plant", "event")}
    for plant, delivery in by_plant.items():
        sandbox_receipt_record(
            receiver=receiver,
            idempotency_key=delivery.idempotency_key,
            body=f'{{"id": "evt-{plant}", "data": {{"plant": "{plant}"}}}}'.encode(),
            content_type="application/cloudevents+json",
            headers={},
        )
    sandbox_receipt_record(
        receiver=receiver, idempotency_key="by-hand", body=b"{}", content_type="application/json", headers={}
    )
    return {plant: d.idempotency_key for plant, d in by_plant.items()}


def _login(client, make_user, plants, username: str, role: Role, *, everything: bool = False):
    make_user(username, role, everything=everything, plants=[] if everything else [plants["north"]])
    client.logout()
    assert client.login(username=username, password=PASSWORD)


def test_plant_scoped_operator_reads_only_the_payloads_of_their_plants_deliveries(
    client, make_user, plants, receipts
):
    _login(client, make_user, plants, "north-op", Role.OPERATOR)

    listed = client.get("/api/v1/sandbox/receivers/erp/receipts").json()["results"]

    assert [r["idempotency_key"] for r in listed] == [receipts["P-NORTH"]]
    assert "P-NORTH" in listed[0]["body"]
    assert (
        client.get("/api/v1/sandbox/receivers/erp/receipts", {"idempotency_key": receipts["P-SOUTH"]}).json()[
            "results"
        ]
        == []
    )


def test_plant_scoped_viewer_sees_no_foreign_receipt_metadata_nor_counts(client, make_user, plants, receipts):
    _login(client, make_user, plants, "north-viewer", Role.VIEWER)

    listed = client.get("/api/v1/sandbox/receivers/erp/receipts").json()["results"]
    receiver = client.get("/api/v1/sandbox/receivers/erp").json()
    (row,) = client.get("/api/v1/sandbox/receivers").json()

    assert [(r["idempotency_key"], r["body"]) for r in listed] == [(receipts["P-NORTH"], None)]
    assert receiver["receipt_count"] == row["receipt_count"] == 1


def test_full_scope_viewer_sees_every_receipt_including_those_posted_by_hand(
    client, make_user, plants, receipts
):
    _login(client, make_user, plants, "all-viewer", Role.VIEWER, everything=True)

    listed = client.get("/api/v1/sandbox/receivers/erp/receipts").json()["results"]

    assert {r["idempotency_key"] for r in listed} == {receipts["P-NORTH"], receipts["P-SOUTH"], "by-hand"}
    assert client.get("/api/v1/sandbox/receivers/erp").json()["receipt_count"] == 3


@pytest.mark.parametrize(
    "path",
    ["/api/v1/sandbox/receivers", "/api/v1/sandbox/receivers/erp", "/api/v1/sandbox/receivers/erp/receipts"],
)
def test_a_source_systems_token_is_refused_with_a_403_problem(client, network, receipts, path):
    response = client.get(path, headers=network["erp"].headers)

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "idempotency_key" not in response.content.decode()
    assert response.json()["type"] == "/problems/forbidden"


def test_a_plant_scoped_admin_may_not_clear_every_plants_receipts(client, make_user, plants, receipts):
    _login(client, make_user, plants, "north-admin", Role.ADMIN)

    response = client.delete("/api/v1/sandbox/receivers/erp/receipts")

    assert response.status_code == 403 and response["Content-Type"] == "application/problem+json"
    client.logout()
    _login(client, make_user, plants, "all-admin", Role.ADMIN, everything=True)
    assert client.delete("/api/v1/sandbox/receivers/erp/receipts").json() == {"deleted": 3}
