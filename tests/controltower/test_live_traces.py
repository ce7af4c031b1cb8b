"""The traces list and a trace page over the live websocket: what changed reaches who may see it,
rendered through the pages' own views, and never reaches a user scoped to another plant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from controltower.accounts.roles import Role
from controltower.asgi import application
from controltower.changes import Kind, announce
from controltower.traces.models import Trace
from controltower.traces.selectors import trace_newest_id
from controltower.traces.services import correlate_events
from controltower.traces.services.milestones import traces_mark_overdue
from integrations.delivery.models import Delivery, Target
from tests.controltower.test_live import ORIGIN, session_cookie
from tests.traces.conftest import cloudevent, example, ingest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.anyio]

NORTH_PO, SOUTH_PO, LATER_PO = "4500071001", "4500071002", "4500071003"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def live(cookie: str, page: str) -> WebsocketCommunicator:
    headers = [ORIGIN, (b"host", b"localhost"), (b"cookie", cookie.encode())]
    return WebsocketCommunicator(application, f"/ws/live/?page={quote(page, safe='')}", headers=headers)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def release(network, po: str, *, plant: str = "P-NORTH", supplier: str = "S-ACME") -> Trace:
    """A PO released now for `plant`, stored by the real intake and correlated (committed)."""
    data = example("purchase_order.released", po_number=po, plant=plant, supplier=supplier)
    ids = ingest(
        network["erp"].system, cloudevent("purchase_order.released", data, source="ERP-CLOUD", time=iso(NOW))
    )
    correlate_events(event_ids=ids)
    return Trace.objects.get(root__key=po)


def confirm(network, po: str) -> None:
    data = example("supplier.confirmation", po_number=po)
    ids = ingest(
        network["acme"].system,
        cloudevent("supplier.confirmation", data, source="PORTAL-ACME", time=iso(NOW + timedelta(hours=1))),
    )
    correlate_events(event_ids=ids)


async def connected(cookie: str, page: str) -> WebsocketCommunicator:
    ws = live(cookie, page)
    ok, _ = await ws.connect()
    assert ok
    return ws


@pytest.fixture
def north_and_south(network, plants):
    return {
        "north": release(network, NORTH_PO),
        "south": release(network, SOUTH_PO, plant="P-SOUTH", supplier="S-BOLT"),
    }


async def test_the_list_shows_a_new_trace_in_its_bar_and_counts_without_adding_a_row(
    client, make_user, network, north_and_south
):
    user = await sync_to_async(make_user)("all-traces", Role.VIEWER)
    cookie = await sync_to_async(session_cookie)(client, user)
    upto = await sync_to_async(trace_newest_id)()
    ws = await connected(cookie, f"/traces/?upto={upto}")
    first = await ws.receive_from(timeout=5)  # joining renders the sections the page holds
    assert 'id="traces-counts"' in first and 'id="traces-new"' in first
    assert f'id="trace-{north_and_south["north"].pk}-state"' in first
    assert 'data-state="on_track"' in first and "<strong>2</strong>" in first
    assert "new trace" not in first

    later = await sync_to_async(release)(network, LATER_PO)
    html = await ws.receive_from(timeout=10)
    assert "1 new trace — show" in html
    assert 'href="/traces/"' in html  # showing them reloads the list without the mark
    assert "<strong>3</strong>" in html  # on track: 3
    assert f'id="trace-{later.pk}-' not in html  # the reader's rows stay the rows they have
    await ws.disconnect()


async def test_a_row_the_reader_holds_changes_state_in_place(client, make_user, network, north_and_south):
    user = await sync_to_async(make_user)("all-traces", Role.VIEWER)
    cookie = await sync_to_async(session_cookie)(client, user)
    upto = await sync_to_async(trace_newest_id)()
    ws = await connected(cookie, f"/traces/?state=on_track&upto={upto}")
    await ws.receive_from(timeout=5)

    await sync_to_async(traces_mark_overdue)(now=NOW + timedelta(hours=25))  # confirmations overdue
    html = await ws.receive_from(timeout=10)
    north = north_and_south["north"].pk
    state = html.split(f'id="trace-{north}-state"')[1].split("</span>")[0]
    assert "Late" in state  # still listed under "on track" where the reader has it, now late
    assert 'data-state="late"' in html
    await ws.disconnect()


async def test_a_plant_scoped_user_never_receives_another_plants_trace(
    client, make_user, network, plants, north_and_south, caplog
):
    user = await sync_to_async(make_user)(
        "stuttgart-live", Role.VIEWER, everything=False, plants=[plants["north"]]
    )
    cookie = await sync_to_async(session_cookie)(client, user)
    south = north_and_south["south"]
    upto = await sync_to_async(trace_newest_id)()
    listing = await connected(cookie, f"/traces/?upto={upto}")
    first = await listing.receive_from(timeout=5)
    assert f'id="trace-{south.pk}-' not in first and SOUTH_PO not in first
    # The foreign trace's page: the socket is open (the user may view pages) but the page's
    # view refuses it, so nothing is ever rendered for it.
    foreign = await connected(cookie, f"/traces/{south.pk}/")
    assert await foreign.receive_nothing(timeout=1)

    await sync_to_async(confirm)(network, SOUTH_PO)  # the south trace changes ...
    await sync_to_async(release)(
        network, "4500071004", plant="P-SOUTH", supplier="S-BOLT"
    )  # ... and one is new
    assert await listing.receive_nothing(timeout=2)
    assert await foreign.receive_nothing(timeout=0.5)

    await sync_to_async(release)(network, LATER_PO)  # a north trace: this one they may see
    html = await listing.receive_from(timeout=10)
    assert "1 new trace — show" in html and SOUTH_PO not in html
    assert await foreign.receive_nothing(timeout=0.5)
    assert "live: rendering" not in caplog.text  # refused quietly (a 404), not a failed render
    await listing.disconnect()
    await foreign.disconnect()


async def test_a_trace_page_shows_its_milestone_and_its_deliveries_change(
    client, make_user, network, north_and_south
):
    user = await sync_to_async(make_user)("all-traces", Role.VIEWER)
    cookie = await sync_to_async(session_cookie)(client, user)
    north = north_and_south["north"]
    ws = await connected(cookie, f"/traces/{north.pk}/")
    first = await ws.receive_from(timeout=5)
    for section in ("trace-summary", "trace-milestones", "trace-hops", "trace-deliveries", "trace-timeline"):
        assert f'id="{section}"' in first
    assert "supplier.confirmation" not in first

    await sync_to_async(confirm)(network, SOUTH_PO)  # another trace's change: not this page's
    assert await ws.receive_nothing(timeout=1)
    await sync_to_async(confirm)(network, NORTH_PO)
    html = await ws.receive_from(timeout=10)
    assert "supplier.confirmation" in html  # the timeline has it
    milestones = html.split('id="trace-milestones"')[1].split("</section>")[0]
    assert milestones.count(">Done<") == 2  # released and confirmed

    def delivered() -> int:
        target = Target.objects.create(code="erp-post", name="ERP", url="http://127.0.0.1:9/")
        delivery = Delivery.objects.create(
            event_id=north.memberships.values_list("event_id", flat=True).first(),
            target=target,
            mapping="cloudevent",
            idempotency_key="live-1",
            type="purchase_order.released",
            status=Delivery.Status.DEAD_LETTERED,
        )
        announce(Kind.DEAD_LETTERED, delivery.pk, plant_ids=north.plant_id)  # as delivery services do
        return delivery.pk

    await sync_to_async(delivered)()
    html = await ws.receive_from(timeout=10)
    assert "erp-post" in html.split('id="trace-deliveries"')[1]
    await ws.disconnect()
