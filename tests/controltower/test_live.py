"""The live websocket: session-authenticated, scoped groups, coalesced re-renders."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings

from controltower.accounts.roles import Role
from controltower.asgi import application
from controltower.changes import Kind, announce
from controltower.web.consumers import CLOSE_NOT_AUTHENTICATED
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.anyio]

ORIGIN = (b"origin", b"http://localhost")


def communicator(cookie: str | None = None) -> WebsocketCommunicator:
    headers = [ORIGIN, (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/live/?page=/", headers=headers)


def session_cookie(client, user) -> str:
    client.login(username=user.username, password=PASSWORD)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def test_anonymous_connection_is_refused():
    ws = communicator()
    connected, code = await ws.connect()
    assert connected is False
    assert code == CLOSE_NOT_AUTHENTICATED


async def test_signed_in_user_receives_coalesced_status_updates(client, make_user, plants):
    from asgiref.sync import sync_to_async

    user = await sync_to_async(make_user)(
        "north-live", Role.VIEWER, everything=False, plants=[plants["north"]]
    )
    cookie = await sync_to_async(session_cookie)(client, user)
    ws = communicator(cookie)
    connected, _ = await ws.connect()
    assert connected
    first = await ws.receive_from(timeout=5)  # joining renders the sections the page holds
    assert 'id="status-panel"' in first
    for _ in range(5):  # a burst of changes, each committed on its own ...
        await sync_to_async(announce)(Kind.STATUS_CHANGED)
    html = await ws.receive_from(timeout=5)  # ... becomes one re-render
    assert 'id="status-panel"' in html and 'hx-swap-oob="true"' in html
    assert await ws.receive_nothing(timeout=1)
    await ws.disconnect()


async def test_an_idle_receive_outlives_the_layers_blocking_read():
    """A live page may sit idle for minutes: waiting on the layer must not fail after the 5 s
    blocking read of channels-redis (it did, with redis-py 8, until the read timeout was set)."""
    import asyncio

    layer = get_channel_layer()
    channel = await layer.new_channel()
    with pytest.raises(asyncio.TimeoutError):  # our own deadline, not the layer's error
        await asyncio.wait_for(layer.receive(channel), timeout=7)
    await layer.send(channel, {"type": "still.here"})
    assert (await layer.receive(channel))["type"] == "still.here"


async def test_a_change_committed_in_a_worker_process_reaches_the_page(
    client, make_user, celery_worker_process
):
    """The hub hears changes from every process over the broker (Redis, or the embedded folder):
    a heartbeat recorded by a real Celery worker re-renders the status panel here."""
    from asgiref.sync import sync_to_async

    from controltower.health.tasks import heartbeat
    from controltower.queueing import enqueue

    user = await sync_to_async(make_user)("all-live", Role.VIEWER)
    cookie = await sync_to_async(session_cookie)(client, user)
    ws = communicator(cookie)
    connected, _ = await ws.connect()
    assert connected
    html = await ws.receive_from(timeout=5)
    while "test-worker" not in html:  # the worker's own heartbeat on connecting, pushed live
        html = await ws.receive_from(timeout=20)
    assert await ws.receive_nothing(timeout=1)  # quiet: nothing changes, nothing is sent
    await sync_to_async(enqueue)(heartbeat, queue="delivery", concern="delivery")
    html = await ws.receive_from(timeout=20)
    assert 'id="status-panel"' in html and "test-worker" in html
    await ws.disconnect()
