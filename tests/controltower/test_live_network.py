"""The network's live pages over the real websocket: targets, systems, rejected messages and the
overview's tiles update themselves, and only within the viewer's plant/supplier scope."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from controltower.accounts.roles import Role
from controltower.asgi import application
from integrations.delivery.models import Subscription, Target
from integrations.delivery.services.resubmission import rejected_resubmit, resubmission_run
from integrations.models import RejectedMessage, SourceSystem
from integrations.services.network import system_upsert
from integrations.services.tokens import system_token_create
from tests.conftest import PASSWORD
from tests.factories import Sender, po_released, post_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.anyio]

# Longer than a hub tick plus the bus's batching on either broker: silence here means nothing
# was sent, not that it was late.
QUIET = 2


@pytest.fixture
def mes_south(plants) -> Sender:
    system = system_upsert(
        code="MES-SOUTH", name="Mes-South", kind=SourceSystem.Kind.MES, plant=plants["south"]
    )
    return Sender(system, system_token_create(system=system)[1])


async def live_socket(client, user, page: str) -> tuple[WebsocketCommunicator, str]:
    """A signed-in socket holding `page`, and the sections it was sent on joining."""

    def cookie() -> str:
        client.login(username=user.username, password=PASSWORD)
        return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", (await sync_to_async(cookie)()).encode()),
    ]
    ws = WebsocketCommunicator(application, f"/ws/live/?page={page}", headers=headers)
    connected, _ = await ws.connect()
    assert connected
    return ws, await ws.receive_from(timeout=10)


@sync_to_async
def post(sender: Sender, event: dict):
    return post_events(Client(), sender, event)


@sync_to_async
def user(make_user, username: str, role: Role, **scope):
    return make_user(username, role, **scope)


async def test_a_plant_scoped_user_never_receives_another_plants_rejected_message(
    client, make_user, plants, network, mes_south
):
    north_user = await user(make_user, "nora", Role.VIEWER, everything=False, plants=[plants["north"]])
    ws, first = await live_socket(client, north_user, "/rejected/")
    assert 'id="rejected-table"' in first and "0</strong> rejected messages" in first

    south = await post(mes_south, po_released(source="MES-SOUTH", po_number=""))
    assert south.status_code == 400
    assert await ws.receive_nothing(timeout=QUIET)  # not even a re-render: the change is not hers

    north = await post(network["mes_north"], po_released(source="MES-NORTH", po_number=""))
    html = await ws.receive_from(timeout=10)
    assert f'id="rejected-{north.json()["rejected_message"]}"' in html
    assert f'id="rejected-{south.json()["rejected_message"]}"' not in html and "MES-SOUTH" not in html
    assert "1</strong> rejected message " in html and 'hx-swap-oob="true"' in html
    await ws.disconnect()


async def test_a_resubmissions_outcome_reaches_the_rejected_message_page(client, operator, network):
    answer = await post(network["mes_north"], po_released(source="MES-NORTH", plant="P-ATLANTIS"))
    other = await post(network["mes_north"], po_released(source="MES-NORTH", po_number=""))
    rejected = await RejectedMessage.objects.aget(pk=answer.json()["rejected_message"])
    ws, first = await live_socket(client, operator, f"/rejected/{rejected.pk}/")
    assert 'id="resubmissions"' in first and "resubmission-row" not in first
    assert 'id="resubmit-body"' not in first  # the form being typed in is not a live section

    other_rejected = await RejectedMessage.objects.aget(pk=other.json()["rejected_message"])
    await sync_to_async(rejected_resubmit)(
        rejected=other_rejected, body=other_rejected.body_text, reason="as is", user=operator
    )
    assert await ws.receive_nothing(timeout=QUIET)  # another message's resubmission

    fixed = rejected.body_text.replace("P-ATLANTIS", "P-NORTH")
    resubmission = await sync_to_async(rejected_resubmit)(
        rejected=rejected, body=fixed, reason="plant code corrected", user=operator
    )
    html = await ws.receive_from(timeout=10)
    assert "plant code corrected" in html and "Queued" in html and "waiting for the intake worker" in html

    assert await sync_to_async(resubmission_run)(resubmission_id=resubmission.pk) == "accepted"
    html = await ws.receive_from(timeout=10)
    assert "Accepted" in html and "MES-NORTH#" in html
    await ws.disconnect()


async def test_a_paused_targets_backlog_counts_up_on_the_targets_page(client, viewer, network):
    @sync_to_async
    def paused_target() -> Target:
        target = Target.objects.create(
            code="erp-post", name="ERP", url="http://127.0.0.1:9/unused/", paused=True, paused_reason="window"
        )
        Subscription.objects.create(name="po", target=target, event_types=["purchase_order.released"])
        return target

    await paused_target()
    ws, first = await live_socket(client, viewer, "/targets/")
    assert 'id="backlog-erp-post">0<' in first
    for expected in (1, 2):
        assert (await post(network["erp"], po_released())).status_code == 202
        html = await ws.receive_from(timeout=10)
        assert f'id="backlog-erp-post">{expected}<' in html
    await ws.disconnect()


async def test_the_systems_page_shows_a_systems_activity_within_scope(
    client, make_user, plants, network, mes_south
):
    north_user = await user(make_user, "nils", Role.VIEWER, everything=False, plants=[plants["north"]])
    ws, first = await live_socket(client, north_user, "/systems/")
    assert 'id="system-MES-NORTH"' in first and "never" in first and "MES-SOUTH" not in first

    assert (await post(mes_south, po_released(source="MES-SOUTH", plant="P-SOUTH"))).status_code == 202
    assert await ws.receive_nothing(timeout=QUIET)

    assert (await post(network["mes_north"], po_released(source="MES-NORTH"))).status_code == 202
    html = await ws.receive_from(timeout=10)
    row = html[html.index('id="system-MES-NORTH"') :]
    assert "never" not in row.split("</tr>")[0] and "MES-SOUTH" not in html
    await ws.disconnect()


async def test_the_overviews_tiles_count_within_the_users_scope(
    client, make_user, plants, network, mes_south
):
    north_user = await user(make_user, "nina", Role.VIEWER, everything=False, plants=[plants["north"]])
    ws, first = await live_socket(client, north_user, "/")
    assert 'id="overview-tiles"' in first and 'id="status-panel"' in first
    assert "<strong>0</strong> events accepted today" in first

    assert (await post(mes_south, po_released(source="MES-SOUTH", plant="P-SOUTH"))).status_code == 202
    assert await ws.receive_nothing(timeout=QUIET)

    assert (await post(network["mes_north"], po_released(source="MES-NORTH"))).status_code == 202
    html = await ws.receive_from(timeout=10)
    assert "<strong>1</strong> event accepted today" in html
    await ws.disconnect()
