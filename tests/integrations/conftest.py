"""Fixtures of the EPCIS capture tests: a supplier portal posting to the capture endpoint."""

from __future__ import annotations

import json

import pytest

from controltower.masterdata.services import plant_upsert
from integrations.services.network import system_upsert
from integrations.services.tokens import system_token_create

CAPTURE = "/api/v1/epcis/capture"


@pytest.fixture
def system_poster(client):
    """post(body, token=..., headers=...) to the capture endpoint."""

    def post(body, *, token: str, content_type="application/ld+json", headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body)
        return client.post(
            CAPTURE,
            data,
            content_type=content_type,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
        )

    return post


@pytest.fixture
def portal_token(suppliers):
    """The ACME supplier portal, shipping to plant P-NORTH via a system bound to both."""
    plant = plant_upsert(code="P-NORTH", name="North", time_zone="Europe/Berlin")
    system = system_upsert(
        code="PORTAL-ACME",
        name="Acme portal",
        kind="supplier_portal",
        supplier=suppliers["acme"],
        plant=plant,
    )
    return system_token_create(system=system)[1]


@pytest.fixture
def portal(system_poster, portal_token):
    def post(body, content_type="application/ld+json", headers=None):
        return system_poster(body, token=portal_token, content_type=content_type, headers=headers)

    return post
