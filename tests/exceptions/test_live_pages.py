"""The queue and the case page are live: a case change re-renders them for the sockets that may
see it, and a scoped handler's socket never carries another plant's case."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from controltower.asgi import application
from exceptions.models import Case
from exceptions.services import case_acknowledge, case_comment
from exceptions.services.following import cases_follow
from tests.conftest import PASSWORD
from tests.exceptions.helpers import open_case

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.anyio]


def _cookie(client, user) -> str:
    client.login(username=user.username, password=PASSWORD)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def _connect(client, user, page: str) -> WebsocketCommunicator:
    cookie = await sync_to_async(_cookie)(client, user)
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie.encode())]
    ws = WebsocketCommunicator(application, f"/ws/live/?page={page}", headers=headers)
    connected, _ = await ws.connect()
    assert connected
    return ws


def _south_case(dead_letter) -> Case:
    delivery = dead_letter(plant="P-SOUTH")
    cases_follow(delivery_ids=[delivery.pk])
    return Case.objects.get(kind="dead_letter")


async def test_the_case_page_updates_live_and_only_for_its_own_case(client, handler, refuse, dead_letter):
    north = await sync_to_async(open_case)(refuse)
    south = await sync_to_async(_south_case)(dead_letter)
    ws = await _connect(client, handler, f"/exceptions/{north.pk}/")
    first = await ws.receive_from(timeout=5)  # joining renders the sections the page holds
    assert 'id="case-summary"' in first and 'id="case-history"' in first and 'data-state="open"' in first
    await sync_to_async(case_acknowledge)(case_id=south.pk, user=handler)
    assert await ws.receive_nothing(timeout=1)  # another case: this page is not re-rendered
    await sync_to_async(case_acknowledge)(case_id=north.pk, user=handler)
    html = await ws.receive_from(timeout=5)
    assert 'data-state="acknowledged"' in html and 'hx-swap-oob="true"' in html
    await ws.disconnect()


async def test_a_plant_scoped_handlers_sockets_never_carry_another_plants_case(
    client, north_handler, handler, refuse, dead_letter
):
    north = await sync_to_async(open_case)(refuse)
    south = await sync_to_async(_south_case)(dead_letter)
    foreign = await _connect(client, north_handler, f"/exceptions/{south.pk}/")
    assert await foreign.receive_nothing(timeout=1)  # the view answers 404: nothing to send
    await sync_to_async(case_acknowledge)(case_id=south.pk, user=handler)
    assert await foreign.receive_nothing(timeout=1)
    await foreign.disconnect()

    queue = await _connect(client, north_handler, "/exceptions/")
    html = await queue.receive_from(timeout=5)
    assert f'data-case="{north.pk}"' in html and f'data-case="{south.pk}"' not in html
    await sync_to_async(case_comment)(case_id=south.pk, user=handler, comment="x")  # not in their scope
    assert await queue.receive_nothing(timeout=1)
    await sync_to_async(case_acknowledge)(case_id=north.pk, user=handler)
    html = await queue.receive_from(timeout=5)
    assert 'id="case-queue"' in html and f'data-case="{south.pk}"' not in html
    await queue.disconnect()


async def test_a_new_case_appears_in_the_open_queue_without_reload(client, handler, refuse):
    queue = await _connect(client, handler, "/exceptions/?queue=unassigned")
    html = await queue.receive_from(timeout=5)
    assert "No cases match in your scope." in html
    case = await sync_to_async(open_case)(refuse)
    html = await queue.receive_from(timeout=5)
    assert f'data-case="{case.pk}"' in html
    await queue.disconnect()
