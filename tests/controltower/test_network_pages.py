"""Pages for systems, contracts and rejected messages, within scope."""

from __future__ import annotations

import pytest

from controltower.accounts.roles import Role
from tests.conftest import PASSWORD
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db


def test_systems_page_lists_systems_in_scope_with_activity(client, make_user, plants, network):
    post_events(client, network["mes_north"], po_released(source="MES-NORTH", plant="P-NORTH"))
    make_user("n", Role.VIEWER, everything=False, plants=[plants["north"]])
    client.login(username="n", password=PASSWORD)
    page = client.get("/systems/").content.decode()
    assert "MES-NORTH" in page and "PORTAL-ACME" not in page and "ERP-CLOUD" not in page
    partial = client.get("/systems/?kind=erp", headers={"HX-Request": "true"}).content.decode()
    assert 'id="systems-table"' in partial and "<html" not in partial and "MES-NORTH" not in partial


def test_rejected_message_page_shows_the_raw_body_and_errors(client, operator, network):
    refused = post_events(
        client, network["erp"], b'{"specversion": "1.0"', content_type="application/cloudevents+json"
    )
    pk = refused.json()["rejected_message"]
    client.force_login(operator)
    listing = client.get("/rejected/").content.decode()
    assert f"/rejected/{pk}/" in listing
    detail = client.get(f"/rejected/{pk}/").content.decode()
    assert "{&quot;specversion&quot;: &quot;1.0&quot;" in detail
    assert "[redacted]" in detail and "not valid JSON" in detail


def test_other_suppliers_rejections_are_not_reachable_by_url(client, make_user, suppliers, network):
    refused = post_events(client, network["erp"], b"{", content_type="application/cloudevents+json")
    make_user("acme", Role.VIEWER, everything=False, suppliers=[suppliers["acme"]])
    client.login(username="acme", password=PASSWORD)
    assert client.get(f"/rejected/{refused.json()['rejected_message']}/").status_code == 404


def test_contract_catalog_page_documents_every_type(client, viewer):
    client.force_login(viewer)
    page = client.get("/contracts/").content.decode()
    for name in ("purchase_order.released", "shipment.dispatched", "goods.received", "integration.telemetry"):
        assert f'id="{name}-v1"' in page
    assert "Business time: <code>data/received_at</code>" in page


def test_only_admins_are_told_to_onboard_systems_with_create_token(client, make_user, suppliers, plants):
    make_user("valley", Role.VIEWER, everything=False, suppliers=[suppliers["bolt"]])
    client.login(username="valley", password=PASSWORD)
    scoped = client.get("/systems/").content.decode()
    assert "No systems in your scope yet." in scoped
    assert "create_token" not in scoped and "An administrator onboards" in scoped

    make_user("root", Role.ADMIN, everything=False, plants=[plants["south"]])
    client.login(username="root", password=PASSWORD)
    assert "manage.py create_token" in client.get("/systems/").content.decode()


def test_systems_page_shows_last_seen_rates_and_recent_refusals(client, viewer, network):
    for po in ("4500000001", "4500000002", "4500000003"):
        post_events(client, network["mes_north"], po_released(po, source="MES-NORTH"))
    post_events(client, network["mes_north"], po_released(source="MES-NORTH", po_number=""))
    client.force_login(viewer)
    page = client.get("/systems/").content.decode()
    row = page[page.index('id="system-MES-NORTH"') :].split("</tr>")[0]
    assert '<td class="rate">0.2</td>' in row  # 3 events over the 15-minute window
    assert 'href="/rejected/?system=MES-NORTH">1</a>' in row and "25%" in row
    assert "never" not in row
    other = page[page.index('id="system-PORTAL-ACME"') :].split("</tr>")[0]
    assert "never" in other and '<td class="rate">0</td>' in other


def test_the_overview_tiles_count_within_scope(client, make_user, plants, network):
    post_events(client, network["erp"], po_released("4500000001", plant="P-NORTH", supplier="S-BOLT"))
    post_events(client, network["erp"], po_released("4500000002", plant="P-SOUTH", supplier="S-BOLT"))
    post_events(client, network["erp"], po_released(po_number=""))  # refused; ERP has no plant
    make_user("n", Role.VIEWER, everything=False, plants=[plants["north"]])
    client.login(username="n", password=PASSWORD)
    tiles = client.get("/").content.decode()
    assert "<strong>1</strong> event accepted today" in tiles
    assert "<strong>0</strong> rejected today" in tiles
    make_user("all", Role.VIEWER)
    client.login(username="all", password=PASSWORD)
    tiles = client.get("/").content.decode()
    assert (
        "<strong>2</strong> events accepted today" in tiles and "<strong>1</strong> rejected today" in tiles
    )
