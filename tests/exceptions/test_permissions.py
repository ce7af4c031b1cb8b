"""Exception handlers may put failed work right within their scope — retry deliveries, replay,
resubmit refused messages — but not run the delivery machinery (pause targets); viewers may
do none of it."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from controltower.accounts.access import access_for
from controltower.accounts.roles import Capability
from integrations.delivery.models import ReplayJob, Resubmission
from tests.conftest import PASSWORD
from tests.factories import po_released

pytestmark = pytest.mark.django_db


def test_the_roles_hold_the_capabilities_their_work_needs(handler, operator, viewer):
    assert {Capability.RECOVER, Capability.WORK_EXCEPTIONS} <= access_for(handler).capabilities
    assert not access_for(handler).can(Capability.OPERATE)
    assert {Capability.RECOVER, Capability.OPERATE} <= access_for(operator).capabilities
    assert not access_for(viewer).can(Capability.RECOVER)


def test_a_handler_retries_a_dead_letter_in_scope_by_page_and_api_but_cannot_pause_its_target(
    client, handler, dead_letter, erp_target
):
    delivery = dead_letter()
    client.login(username=handler.username, password=PASSWORD)
    response = client.post(reverse("delivery-retry", args=[delivery.pk]), {"reason": "ERP is back"})
    assert response.status_code == 302 and ReplayJob.objects.count() == 1
    api = client.post(
        reverse("api-v1:delivery-retry", args=[delivery.pk]),
        {"reason": "again"},
        content_type="application/json",
    )
    assert api.status_code == 202 and ReplayJob.objects.count() == 2, api.content
    assert client.post(reverse("target-pause", args=[erp_target.pk]), {"reason": "x"}).status_code == 403
    pause = client.post(reverse("api-v1:target-pause", args=[erp_target.code]), {"reason": "x"})
    assert pause.status_code == 403


def test_a_plant_scoped_handler_cannot_retry_another_plants_dead_letter(client, north_handler, dead_letter):
    south = dead_letter(plant="P-SOUTH")
    client.login(username=north_handler.username, password=PASSWORD)
    assert client.post(reverse("delivery-retry", args=[south.pk]), {"reason": "x"}).status_code == 404
    assert ReplayJob.objects.count() == 0


def test_a_handler_resubmits_a_refused_message_and_a_viewer_cannot(client, handler, viewer, refuse):
    rejected = refuse(event_id="r-1")
    body = json.dumps(po_released(event_id="r-1", source="MES-NORTH"))
    client.login(username=viewer.username, password=PASSWORD)
    url = reverse("rejected-message", args=[rejected.pk])
    assert client.post(url, {"body": body, "reason": "qty"}).status_code == 403
    client.logout()
    client.login(username=handler.username, password=PASSWORD)
    assert client.post(url, {"body": body, "reason": "qty"}).status_code == 302
    assert Resubmission.objects.get().created_by == handler
