"""The live hub under stress: coalescing, one render per audience, slow browsers, broker outages.

Every test drives the real consumer through the real ASGI app, the real bus (the broker of the
run: Redis, or the embedded folder) and the hub of the test's event loop.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import override_settings

from controltower.accounts.roles import Role
from controltower.asgi import application
from controltower.changes import Kind, announce
from controltower.health.services import heartbeat_record
from controltower.web.live import bus
from controltower.web.live.hub import Hub
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.anyio]


def session_cookie(client, user) -> str:
    client.login(username=user.username, password=PASSWORD)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def signed_in_cookie(client, make_user, username: str, **kwargs) -> str:
    user = await sync_to_async(make_user)(username, Role.VIEWER, **kwargs)
    return await sync_to_async(session_cookie)(client, user)


async def open_socket(cookie: str, page: str = "/") -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie.encode())]
    ws = WebsocketCommunicator(application, f"/ws/live/?page={page}", headers=headers)
    connected, _ = await ws.connect()
    assert connected
    assert 'id="status-panel"' in await ws.receive_from(timeout=10)  # joining renders the page's sections
    subscribed = Hub.current().subscribed  # changes published before the hub listens are not heard
    assert await sync_to_async(subscribed.wait, thread_sensitive=False)(timeout=10)
    return ws


async def received(ws: WebsocketCommunicator, *, within: float, first: float = 0) -> list[str]:
    """Every message `ws` receives until it has been quiet for `within` seconds."""
    messages = []
    if first:  # a loaded machine may take seconds for the first: wait for it, then for quiet
        messages.append(await ws.receive_from(timeout=first))
    while not await ws.receive_nothing(timeout=within):  # (a timed-out receive ends the app)
        messages.append(await ws.receive_from())
    return messages


async def test_a_burst_of_1000_changes_reaches_a_client_as_a_handful_of_pushes(client, make_user):
    cookie = await signed_in_cookie(client, make_user, "burst")
    ws = await open_socket(cookie)
    hub = Hub.current()
    renders, heard = hub.renders, hub.heard

    def burst() -> float:
        started = time.monotonic()
        for _ in range(999):  # each committed on its own: 999 `changed` signals
            announce(Kind.STATUS_CHANGED)
        heartbeat_record(queue="ingest", hostname="last-of-the-burst@host")  # the 1,000th
        return time.monotonic() - started

    seconds = await sync_to_async(burst)()
    messages = await received(ws, within=2, first=10)
    # Without coalescing this would be 1,000 messages. The hub renders at most once a tick and
    # the bus carries one message per 50 ms batch, so the count follows the burst's duration.
    ticks = int((seconds + 1.0) / Hub.TICK) + 1
    assert 1 <= len(messages) <= min(ticks, 12), (len(messages), seconds)
    assert hub.renders - renders == len(messages)  # one audience: one render per push
    assert hub.heard - heard <= int((seconds + 1.0) / bus.BATCH_SECONDS) + 1
    assert "last-of-the-burst@host" in messages[-1]  # the latest state wins
    await ws.disconnect()


async def test_sockets_of_one_audience_cost_one_render_per_tick(client, make_user, plants):
    same = await signed_in_cookie(client, make_user, "wall-screen")
    sockets = [await open_socket(same) for _ in range(10)]
    other = await signed_in_cookie(
        client, make_user, "north-only", everything=False, plants=[plants["north"]]
    )
    scoped = [await open_socket(other) for _ in range(3)]
    hub = Hub.current()
    # Joins spread over ticks: let their renders pass (all sockets listened to at once).
    await asyncio.gather(*(received(ws, within=0.6) for ws in sockets + scoped))
    assert len(hub.audiences) == 2
    renders = hub.renders

    await sync_to_async(heartbeat_record)(queue="ingest", hostname="one-change@host")
    received_by = await asyncio.gather(*(received(ws, within=1, first=10) for ws in sockets + scoped))
    for number, messages in enumerate(received_by):
        assert len(messages) == 1 and "one-change@host" in messages[0], number
    assert hub.renders - renders == 2  # 13 sockets, 2 audiences (scope differs): 2 renders
    for ws in sockets + scoped:
        await ws.disconnect()


class StuckBrowser:
    """A socket whose peer never reads: every push waits forever."""

    def __init__(self) -> None:
        self.pushes = 0
        self.dropped = asyncio.Event()

    async def push(self, html: str) -> None:
        self.pushes += 1
        await asyncio.Event().wait()

    async def drop(self) -> None:
        self.dropped.set()


async def test_a_browser_that_does_not_read_is_dropped_and_holds_up_nobody(client, make_user, monkeypatch):
    monkeypatch.setattr(Hub, "PUSH_TIMEOUT", 8.0)
    cookie = await signed_in_cookie(client, make_user, "reader")
    ws = await open_socket(cookie)
    hub = Hub.current()
    (key, audience), *_ = hub.audiences.items()
    stuck = StuckBrowser()  # joins the very same audience as the reading browser
    hub.join(
        stuck,
        page=audience.page,
        url_kwargs=audience.url_kwargs,
        path=audience.path,
        user=audience.user,
        access=audience.access,
        zone=audience.zone,
        host=audience.host,
    )
    await received(ws, within=0.6, first=5)  # the join's render, whenever a loaded machine sends it

    await sync_to_async(heartbeat_record)(queue="ingest", hostname="first@host")
    started = time.monotonic()
    assert "first@host" in await ws.receive_from(timeout=6)
    # Not behind the stuck socket's push, which holds its own outbox for the whole 8 s.
    assert time.monotonic() - started < 6
    await asyncio.wait_for(stuck.dropped.wait(), timeout=15)
    assert stuck not in hub.audiences[key].sockets and stuck not in hub.outboxes

    await sync_to_async(heartbeat_record)(queue="ingest", hostname="second@host")
    assert "second@host" in await ws.receive_from(timeout=3)
    assert stuck.pushes == 1
    await ws.disconnect()


async def test_the_hub_hears_changes_again_after_the_broker_comes_back(
    client,
    make_user,
    private_redis,  # noqa: F811
):
    """A page left open overnight outlives a broker restart: the listener reconnects and the
    publisher, having lost one batch at most, publishes again."""
    cookie = await signed_in_cookie(client, make_user, "overnight")
    with override_settings(CELERY_BROKER_URL=private_redis.url, CELERY_BROKER_TRANSPORT_OPTIONS={}):
        publisher, bus._publisher = bus._publisher, None  # one that publishes to this broker
        try:
            ws = await open_socket(cookie)
            await received(ws, within=2)  # the listener subscribes on its own thread
            await sync_to_async(heartbeat_record)(queue="ingest", hostname="before@host")
            while "before@host" not in await ws.receive_from(timeout=10):
                pass

            await sync_to_async(private_redis.stop)()
            await sync_to_async(heartbeat_record)(queue="ingest", hostname="during@host")  # lost
            await asyncio.sleep(3)  # the listener notices and retries meanwhile
            await sync_to_async(private_redis.start)()

            seen, deadline = "", time.monotonic() + 30
            while "after@host" not in seen and time.monotonic() < deadline:
                await sync_to_async(heartbeat_record)(queue="ingest", hostname="after@host")
                seen = "".join(await received(ws, within=1.5))
            assert "after@host" in seen
            assert Hub.current().listener.is_alive()
            await ws.disconnect()
        finally:
            bus._publisher = publisher
