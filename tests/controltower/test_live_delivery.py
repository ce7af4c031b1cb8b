"""The delivery pages over the live socket: what each user receives when deliveries and jobs
change through the real services (committed, carried over the broker, re-rendered by the hub
through the page's own view) — and what a user outside the scope never receives."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from controltower.accounts.roles import Role
from controltower.asgi import application
from integrations.delivery.models import Delivery, ReplayJob, Target
from integrations.delivery.services import jobs
from integrations.delivery.services.delivering import delivery_attempt
from tests.controltower.test_delivery_pages import (  # noqa: F401 — `receiver` is a fixture
    ingest,
    north,
    receiver,
    send_all,
    south,
    subscribe,
    target,
)
from tests.controltower.test_live import session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.anyio]

QUIET = 2  # seconds in which a change heard by the hub would have been pushed


async def connect(client, user, page: str) -> WebsocketCommunicator:
    cookie = await sync_to_async(session_cookie)(client, user)
    ws = WebsocketCommunicator(
        application,
        f"/ws/live/?page={page}",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie.encode())],
    )
    connected, _ = await ws.connect()
    assert connected
    return ws


async def receive_until(ws: WebsocketCommunicator, predicate, *, timeout: float = 20) -> str:
    """The next pushed render for which `predicate` holds (renders before it are skipped)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        html = await ws.receive_from(timeout=max(0.1, deadline - time.monotonic()))
        if predicate(html):
            return html


async def hold(ws: WebsocketCommunicator) -> str:
    """What the browser does (static/js/live.js): take the first render and follow the page its
    section names (a pinned list's anchor); returns the render of that page."""
    import json

    html = await ws.receive_from(timeout=10)
    named = re.search(r'data-live-page="([^"]+)"', html)
    page = named and named.group(1).replace("&amp;", "&")
    if not page or page == ws.scope["query_string"].decode().removeprefix("page="):
        return html
    await ws.send_to(text_data=json.dumps({"page": page}))
    return await ws.receive_from(timeout=10)


def row_of(html: str, pk: int) -> str:
    match = re.search(rf'<tr [^>]*data-delivery="{pk}".*?</tr>', html, re.S)
    assert match, f"no row of delivery {pk}"
    return match.group(0)


@pytest.fixture
def erp_dead_letters(network):
    """Two dead letters to erp-post: one about P-NORTH, one about P-SOUTH."""
    subscribe(target("erp-post"), "purchase_order.released")
    ingest(network["erp"], north("n-1"), south("s-1"))
    assert send_all() == ["dead_lettered", "dead_lettered"]
    return {
        "north": Delivery.objects.get(event__event_id="n-1"),
        "south": Delivery.objects.get(event__event_id="s-1"),
    }


async def test_a_plant_scoped_user_never_receives_another_plants_deliveries(
    client, make_user, plants, network, erp_dead_letters
):
    everyone = await sync_to_async(make_user)("all-seeing", Role.VIEWER)
    northern = await sync_to_async(make_user)(
        "northern", Role.VIEWER, everything=False, plants=[plants["north"]]
    )
    wide = await connect(client, everyone, "/deliveries/")
    narrow = await connect(client, northern, "/deliveries/")
    first = await hold(narrow)  # joining renders the sections the page holds
    assert 'id="deliveries-table"' in first
    assert f'data-delivery="{erp_dead_letters["north"].pk}"' in first
    assert f'data-delivery="{erp_dead_letters["south"].pk}"' not in first
    await hold(wide)

    # A delivery about the south plant: the all-seeing list hears of it, the northern one not.
    await sync_to_async(ingest)(network["erp"], south("s-2"))
    html = await receive_until(wide, lambda html: "new delivery" in html)
    assert "1 new delivery — show" in html  # counted, not inserted under the reader
    assert await narrow.receive_nothing(timeout=QUIET)

    # One about the north plant reaches the northern list, with its own counts.
    await sync_to_async(ingest)(network["erp"], north("n-2"))
    html = await receive_until(narrow, lambda html: "new delivery" in html)
    assert "1 new delivery — show" in html and 'data-status="pending"' in html
    assert f'data-delivery="{erp_dead_letters["south"].pk}"' not in html
    assert "S-BOLT" not in html and "P-SOUTH" not in html
    await wide.disconnect()
    await narrow.disconnect()


async def test_another_plants_delivery_page_sends_nothing(client, make_user, plants, erp_dead_letters):
    northern = await sync_to_async(make_user)(
        "northern", Role.VIEWER, everything=False, plants=[plants["north"]]
    )
    south_dead = erp_dead_letters["south"]
    ws = await connect(client, northern, f"/deliveries/{south_dead.pk}/")
    assert await ws.receive_nothing(timeout=QUIET)  # the page's own view refuses it: nothing to send
    await sync_to_async(Delivery.objects.filter(pk=south_dead.pk).update)(status=Delivery.Status.PENDING)
    await sync_to_async(send_all)()  # a real attempt: refused again, announced, not for this user
    assert await ws.receive_nothing(timeout=QUIET)
    await ws.disconnect()


async def test_a_retried_dead_letter_changes_status_in_its_row_and_on_its_page(
    client,
    make_user,
    erp_dead_letters,
    receiver,  # noqa: F811 — the fixture imported above
):
    viewer = await sync_to_async(make_user)("vera", Role.VIEWER)
    operator = await sync_to_async(make_user)("otto", Role.OPERATOR)
    dead = erp_dead_letters["north"]
    listing = await connect(client, viewer, "/dead-letters/")
    html = await hold(listing)
    assert "Dead-lettered" in row_of(html, dead.pk) and "<strong>2</strong> dead letters" in html
    page = await connect(client, viewer, f"/deliveries/{dead.pk}/")
    html = await hold(page)
    assert 'id="delivery-facts"' in html and 'id="delivery-attempts"' in html

    # The target is fixed; the operator retries it; a worker would run the job and send it.
    await sync_to_async(Target.objects.filter(code="erp-post").update)(url=receiver)
    job = await sync_to_async(jobs.delivery_retry)(delivery=dead, user=operator, reason="port reopened")
    await sync_to_async(jobs.replay_run)(job_id=job.pk)
    assert await sync_to_async(delivery_attempt)(delivery_id=dead.pk) == "delivered"

    html = await receive_until(listing, lambda html: "Delivered" in row_of(html, dead.pk))
    assert "retried" in row_of(html, dead.pk)  # it stays in its row, no longer a dead letter
    assert "<strong>1</strong> dead letter " in html
    html = await receive_until(
        page, lambda html: "Delivered" in html and html.count('class="attempt-row"') == 2
    )
    assert f'href="/replays/{job.pk}/"' in html  # the jobs section: the retry that did it
    await listing.disconnect()
    await page.disconnect()


async def test_a_dead_letter_retried_and_refused_again_keeps_its_row(client, make_user, erp_dead_letters):
    viewer = await sync_to_async(make_user)("vera", Role.VIEWER)
    operator = await sync_to_async(make_user)("otto", Role.OPERATOR)
    listing = await connect(client, viewer, "/dead-letters/")
    html = await hold(listing)
    order = re.findall(r'data-delivery="(\d+)"', html)
    assert len(order) == 2
    dead = (
        erp_dead_letters["south"]
        if order[-1] == str(erp_dead_letters["south"].pk)
        else erp_dead_letters["north"]
    )
    assert order[-1] == str(dead.pk)  # the older of the two, below the other

    job = await sync_to_async(jobs.delivery_retry)(delivery=dead, user=operator, reason="try again")
    await sync_to_async(jobs.replay_run)(job_id=job.pk)
    assert await sync_to_async(delivery_attempt)(delivery_id=dead.pk) == "dead_lettered"  # refused again

    # Its second attempt is in its row (the attempts column) once the refusal is recorded.
    html = await receive_until(listing, lambda html: "<td>2</td>" in row_of(html, dead.pk))
    assert re.findall(r'data-delivery="(\d+)"', html) == order  # still where it was ...
    assert "Dead-lettered" in row_of(html, dead.pk) and "retried" in row_of(html, dead.pk)
    assert "new dead letter" not in html  # ... and not counted as a new one
    await listing.disconnect()


async def test_a_jobs_progress_and_items_are_pushed_to_its_page(
    client,
    make_user,
    erp_dead_letters,
    receiver,  # noqa: F811 — the fixture imported above
):
    operator = await sync_to_async(make_user)("otto", Role.OPERATOR)
    await sync_to_async(Target.objects.filter(code="erp-post").update)(url=receiver)
    from integrations.delivery.selectors import DeliveryQuery

    job = await sync_to_async(jobs.replay_start)(
        kind=ReplayJob.Kind.RETRY, query=DeliveryQuery(target="erp-post"), reason="both", user=operator
    )
    ws = await connect(client, operator, f"/replays/{job.pk}/")
    html = await hold(ws)
    assert 'id="replay-progress"' in html and 'id="replay-item-table"' in html
    assert "every 2s" not in html and "<strong>2</strong> pending" in html

    await sync_to_async(jobs.replay_run)(job_id=job.pk)
    html = await receive_until(ws, lambda html: html.count('class="item-row"') == 2)
    for pk in (erp_dead_letters["north"].pk, erp_dead_letters["south"].pk):
        assert await sync_to_async(delivery_attempt)(delivery_id=pk) == "delivered"
    html = await receive_until(ws, lambda html: "<strong>2</strong> done" in html)
    assert html.count(">Delivered</span>") >= 2  # each item's outcome in the table
    await sync_to_async(jobs.replay_verify)(job_id=job.pk)
    await receive_until(ws, lambda html: "none still failing" in html)
    await ws.disconnect()


async def test_the_replay_jobs_list_is_rendered_for_each_user_not_shared_by_scope(
    client, make_user, plants, erp_dead_letters
):
    """Two operators with the same scope see only their own jobs: the hub must not render one's
    list for the other."""
    first = await sync_to_async(make_user)("nora", Role.OPERATOR, everything=False, plants=[plants["north"]])
    second = await sync_to_async(make_user)("nils", Role.OPERATOR, everything=False, plants=[plants["north"]])
    theirs = await connect(client, second, "/replays/")
    await hold(theirs)
    mine = await connect(client, first, "/replays/")
    await hold(mine)
    job = await sync_to_async(jobs.delivery_retry)(
        delivery=erp_dead_letters["north"], user=first, reason="mine"
    )
    # Their lists were empty: nothing a new row could move, so it shows at once — to its starter.
    html = await receive_until(mine, lambda html: f"/replays/{job.pk}/" in html)
    assert "new job" not in html
    html = await theirs.receive_from(timeout=10)  # the change concerns their list too: re-rendered ...
    assert f"/replays/{job.pk}/" not in html and "No jobs" in html  # ... as theirs
    await mine.disconnect()
    await theirs.disconnect()


async def test_rendering_a_page_outside_the_viewers_scope_gives_nothing_not_an_error(
    make_user, plants, erp_dead_letters
):
    """The view raises Http404 for another plant's delivery (get_object_or_404): the render
    yields nothing to send, rather than an exception logged on every change."""
    import datetime

    from controltower.web.live.render import live_page_for, render_sections

    northern = await sync_to_async(make_user)(
        "northern", Role.VIEWER, everything=False, plants=[plants["north"]]
    )
    path = f"/deliveries/{erp_dead_letters['south'].pk}/"
    page, _ = live_page_for(path)
    render = sync_to_async(render_sections)
    assert await render(user=northern, path=path, page=page, zone=datetime.UTC, host="localhost") is None
    path = f"/deliveries/{erp_dead_letters['north'].pk}/"
    assert 'id="delivery-facts"' in await render(
        user=northern, path=path, page=page, zone=datetime.UTC, host="localhost"
    )
    assert (
        live_page_for(f"/api/v1/deliveries/{erp_dead_letters['north'].pk}") is None
    )  # an API route of that name
