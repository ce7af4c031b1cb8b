"""Onboarding is data: load_network and create_token."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from integrations.models import SourceSystem, SystemToken
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db

NETWORK_YAML = """
plants:
  - {code: P-EAST, name: East plant, region: APAC, time_zone: Asia/Tokyo}
suppliers:
  - {code: S-ZED, name: Zed Castings, region: EMEA, time_zone: Europe/Rome}
systems:
  - {code: MES-EAST, name: East MES, kind: mes, plant: P-EAST, owner_team: Plant IT, criticality: high}
  - {code: ZED-PORTAL, name: Zed portal, kind: supplier_portal, supplier: S-ZED, sources: ["urn:zed:portal", ZED-PORTAL]}
"""


def test_load_network_is_idempotent(tmp_path):
    path = tmp_path / "network.yaml"
    path.write_text(NETWORK_YAML)
    for _ in range(2):
        out = StringIO()
        call_command("load_network", str(path), stdout=out)
        assert "Loaded 1 plants, 1 suppliers, 2 systems." in out.getvalue()
    assert SourceSystem.objects.count() == 2
    portal = SourceSystem.objects.get(code="ZED-PORTAL")
    assert sorted(portal.sources.values_list("source", flat=True)) == ["ZED-PORTAL", "urn:zed:portal"]
    assert SourceSystem.objects.get(code="MES-EAST").criticality == "high"


def test_load_network_refuses_unknown_references_and_saves_nothing(tmp_path):
    path = tmp_path / "network.json"
    path.write_text('{"systems": [{"code": "MES-X", "name": "X", "kind": "mes", "plant": "P-NOWHERE"}]}')
    with pytest.raises(CommandError, match="P-NOWHERE"):
        call_command("load_network", str(path))
    assert not SourceSystem.objects.exists()


def test_create_token_registers_a_new_source_in_one_command(client, plants, suppliers):
    out = StringIO()
    call_command(
        "create_token", "PORTAL-ACME", "--kind", "supplier_portal", "--supplier", "S-ACME", stdout=out
    )
    token = out.getvalue().strip()
    assert token.startswith("cts_") and "\n" not in token
    assert SystemToken.objects.get().digest != token
    response = client.post(
        "/api/v1/events",
        __import__("json").dumps(po_released(source="PORTAL-ACME")),
        content_type="application/cloudevents+json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202, response.json()


def test_create_token_for_an_unknown_system_needs_a_kind():
    with pytest.raises(CommandError, match="--kind"):
        call_command("create_token", "NOPE")


def test_revoked_system_token_is_refused_at_once_even_when_cached(client, network):
    from integrations.services.tokens import system_token_revoke

    assert post_events(client, network["erp"], po_released()).status_code == 202  # now cached
    assert system_token_revoke(token=network["erp"].system.tokens.get()) is True
    assert post_events(client, network["erp"], po_released()).status_code == 401


def test_a_source_removed_from_a_system_is_refused_at_once(client, network):
    assert post_events(client, network["erp"], po_released()).status_code == 202  # now cached
    from integrations.services.network import system_upsert

    system = network["erp"].system
    system_upsert(code=system.code, name=system.name, kind=system.kind, sources=["ERP-OTHER"])
    assert post_events(client, network["erp"], po_released()).status_code == 403


def test_a_deactivated_system_can_no_longer_post(client, network):
    assert post_events(client, network["erp"], po_released()).status_code == 202
    system = network["erp"].system
    system.active = False
    system.save()
    assert post_events(client, network["erp"], po_released()).status_code == 401


def test_admins_onboard_a_network_over_the_api_and_others_may_not(client, make_user):
    from controltower.accounts.roles import Role

    document = {
        "plants": [{"code": "P-API", "name": "API plant", "time_zone": "Europe/Paris"}],
        "systems": [{"code": "MES-API", "name": "MES", "kind": "mes", "plant": "P-API"}],
    }
    client.force_login(make_user("op", Role.OPERATOR))
    assert client.post("/api/v1/network", document, content_type="application/json").status_code == 403
    client.force_login(make_user("ad", Role.ADMIN))
    response = client.post("/api/v1/network", document, content_type="application/json")
    assert response.json() == {"plants": 1, "suppliers": 0, "systems": 1}
    bad = client.post(
        "/api/v1/network",
        {"systems": [{"code": "X", "name": "X", "kind": "mes", "plant": "NOPE"}]},
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "/systems/0/plant"
    assert not SourceSystem.objects.filter(code="X").exists()
