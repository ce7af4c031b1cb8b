"""Hostile input on the intake endpoints: refused by pointer, kept, never a 500.

Each value here once reached PostgreSQL or the response encoder and ended in a 500 that stored
nothing and kept nothing: NUL (PostgreSQL text and jsonb cannot hold it), a lone surrogate (no
UTF-8 encoder can write it), NaN / Infinity / 1e400 (not JSON numbers; jsonb refuses them), an
`id` longer than its column, nesting 10,000 levels deep (the parser's RecursionError).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controltower.masterdata.services import plant_upsert
from integrations.models import Event, RejectedMessage
from integrations.services.network import system_upsert
from integrations.services.tokens import system_token_create
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db

PLACEHOLDER = '"@@hostile@@"'
DEEP = "[" * 10_000 + "]" * 10_000
NESTED_100 = '{"a":' * 100 + "1" + "}" * 100


def _set(event: dict, path: str) -> None:
    node = event
    *parents, last = path.split("/")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = PLACEHOLDER.strip('"')
    else:
        node[last] = PLACEHOLDER.strip('"')


# (case id, where in the event, the JSON text put there, the pointer the answer must name)
HOSTILE = [
    ("nul-in-id", "id", '"evt\\u0000x"', "/id"),
    ("nul-in-source", "source", '"ERP-CLOUD\\u0000"', "/source"),
    ("nul-in-type", "type", '"purchase_order.released\\u0000"', "/type"),
    ("nul-in-extension", "tenant", '"north\\u0000"', "/tenant"),
    ("nul-in-data-string", "data/po_number", '"PO\\u0000X"', "/data/po_number"),
    ("nul-in-data-name", "data/extensions", '{"a\\u0000b": 1}', "/data/extensions/a\\u0000b"),
    ("lone-surrogate-in-id", "id", '"\\ud800"', "/id"),
    ("lone-surrogate-in-data", "data/po_number", '"\\udc00PO"', "/data/po_number"),
    ("lone-surrogate-in-data-name", "data/extensions", '{"\\udc00": 1}', "/data/extensions/\\udc00"),
    ("nan-in-data", "data/lines/0/quantity", "NaN", "/data/lines/0/quantity"),
    ("infinity-in-data", "data/lines/0/quantity", "Infinity", "/data/lines/0/quantity"),
    ("minus-infinity-in-data", "data/extensions", '{"n": -Infinity}', "/data/extensions/n"),
    ("1e400-in-data", "data/lines/0/quantity", "1e400", "/data/lines/0/quantity"),
    ("id-of-256-characters", "id", json.dumps("x" * 256), "/id"),
    ("data-nested-10000-deep", "data/extensions", '{"deep": ' + DEEP + "}", "/data/extensions/deep"),
    ("data-nested-100-deep", "data/extensions", NESTED_100, "/data/extensions/a"),
]
DATA_CASES = [case for case in HOSTILE if case[1].startswith("data/")]


def hostile_event(path: str, token: str, po: str = "4500099999") -> str:
    """A valid event as JSON text, with `token` (raw JSON text) at `path`."""
    event = po_released(po)
    _set(event, path)
    return json.dumps(event).replace(PLACEHOLDER, token)


def assert_refused_and_kept(response, pointer: str, body: bytes, operator_client) -> RejectedMessage:
    assert 400 <= response.status_code < 500, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    pointers = [error["pointer"] for error in problem["errors"]]
    assert any(p.startswith(pointer) for p in pointers), pointers
    kept = RejectedMessage.objects.get(pk=problem["rejected_message"])
    assert bytes(kept.body) == body
    assert_shown(kept, operator_client)
    return kept


def assert_shown(kept: RejectedMessage, operator_client) -> None:
    """The rejected-messages API and page show what arrived."""
    api = operator_client.get(f"/api/v1/rejected-messages/{kept.pk}")
    assert api.status_code == 200
    assert api.json()["body"] == kept.body_text
    page = operator_client.get(f"/rejected/{kept.pk}/")
    assert page.status_code == 200


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.mark.parametrize(("case", "path", "token", "pointer"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_structured_event_is_refused_by_pointer_and_kept(
    client, network, operator_client, case, path, token, pointer
):
    body = hostile_event(path, token).encode()
    response = post_events(client, network["erp"], body)
    assert_refused_and_kept(response, pointer, body, operator_client)
    assert Event.objects.count() == 0


@pytest.mark.parametrize(("case", "path", "token", "pointer"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_one_hostile_event_in_a_batch_of_100_refuses_only_that_event(
    client, network, operator_client, case, path, token, pointer
):
    events = [json.dumps(po_released(f"45000{n:05d}")) for n in range(100)]
    events[42] = hostile_event(path, token)
    body = ("[" + ",".join(events) + "]").encode()
    response = post_events(client, network["erp"], body, content_type="application/cloudevents-batch+json")
    assert response.status_code == 200, response.content[:500]
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (99, 1)
    bad = answer["results"][42]
    assert bad["status"] == "rejected" and bad["index"] == 42
    assert any(e["pointer"].startswith(f"/42{pointer}") for e in bad["errors"]), bad["errors"]
    assert Event.objects.count() == 99
    kept = RejectedMessage.objects.get(pk=bad["rejected_message"])
    assert kept.batch_index == 42 and bytes(kept.body) == events[42].encode()  # as it arrived
    assert_shown(kept, operator_client)


@pytest.mark.parametrize(("case", "path", "token", "pointer"), DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_hostile_data_in_binary_mode_is_refused_by_pointer_and_kept(
    client, network, operator_client, case, path, token, pointer
):
    event = json.loads(hostile_event("id", '"placeholder"'))  # the envelope goes in headers
    _set(event, path)
    body = json.dumps(event["data"]).replace(PLACEHOLDER, token).encode()
    response = post_binary(client, network["erp"], body)
    assert_refused_and_kept(response, pointer, body, operator_client)
    assert Event.objects.count() == 0


BAD_HEADERS = [
    ("percent-encoded-nul-in-id", "ce-id", "evt%00x", "/id"),
    ("raw-nul-in-id", "ce-id", "evt\x00x", "/id"),
    ("nul-in-extension", "ce-tenant", "north%00", "/tenant"),
    ("raw-non-utf8-byte-in-id", "ce-id", "evt\xff", "/id"),
    ("percent-encoded-non-utf8-in-id", "ce-id", "evt%FF", "/id"),
    ("percent-encoded-surrogate-in-id", "ce-id", "%ED%A0%80", "/id"),
    ("id-of-256-characters", "ce-id", "x" * 256, "/id"),
]


@pytest.mark.parametrize(("case", "header", "value", "pointer"), BAD_HEADERS, ids=[c[0] for c in BAD_HEADERS])
def test_hostile_ce_header_is_refused_by_pointer_and_kept(
    client, network, operator_client, case, header, value, pointer
):
    body = json.dumps(po_released()["data"]).encode()
    response = post_binary(client, network["erp"], body, **{header: value})
    kept = assert_refused_and_kept(response, pointer, body, operator_client)
    assert json.dumps(kept.headers)  # stored as JSON PostgreSQL holds
    assert Event.objects.count() == 0


def post_binary(client, sender, body: bytes, **headers):
    attributes = {
        "ce-specversion": "1.0",
        "ce-id": "bin-hostile",
        "ce-source": "ERP-CLOUD",
        "ce-type": "purchase_order.released",
        "ce-time": "2026-11-27T08%3A15%3A00Z",
        **headers,
    }
    return client.post(
        "/api/v1/events", body, content_type="application/json", headers={**sender.headers, **attributes}
    )


EPCIS_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "epcis" / "supplier_shipping.jsonld"


@pytest.fixture
def capture(client, suppliers):
    plant = plant_upsert(code="P-NORTH", name="North", time_zone="Europe/Berlin")
    system = system_upsert(
        code="PORTAL-ACME", name="Acme", kind="supplier_portal", supplier=suppliers["acme"], plant=plant
    )
    token = system_token_create(system=system)[1]

    def post(body: bytes):
        return client.post(
            "/api/v1/epcis/capture",
            body,
            content_type="application/ld+json",
            headers={"Authorization": f"Bearer {token}"},
        )

    return post


def epcis_bodies() -> list[tuple[str, bytes]]:
    text = EPCIS_FIXTURE.read_text()
    document = json.loads(text)
    event = document["epcisBody"]["eventList"][0]
    bodies = []
    for name, escape in [("nul-in-a-string", "\\u0000"), ("lone-surrogate", "\\ud800")]:
        bodies.append((name, text.replace(json.dumps(event["eventID"]), f'"{escape}x"', 1).encode()))
    for name, member in [
        ("nul-in-a-name", '"x:a\\u0000": 1'),
        ("lone-surrogate-in-a-name", '"x:\\udc00": 1'),
    ]:
        bodies.append(
            (name, text.replace('"eventTimeZoneOffset"', f'{member}, "eventTimeZoneOffset"', 1).encode())
        )
    for name, number in [("nan", "NaN"), ("infinity", "Infinity"), ("1e400", "1e400")]:
        bodies.append(
            (
                name,
                text.replace('"eventTimeZoneOffset"', f'"x:n": {number}, "eventTimeZoneOffset"', 1).encode(),
            )
        )
    bodies.append(
        (
            "nested-10000-deep",
            text.replace('"eventTimeZoneOffset"', f'"x:deep": {DEEP}, "eventTimeZoneOffset"', 1).encode(),
        )
    )
    return bodies


@pytest.mark.parametrize(("case", "body"), epcis_bodies(), ids=[name for name, _ in epcis_bodies()])
def test_hostile_epcis_capture_is_refused_and_kept_never_a_500(capture, operator_client, case, body):
    response = capture(body)
    assert response.status_code < 500
    assert 400 <= response.status_code < 500 or response.status_code == 202
    assert RejectedMessage.objects.filter(endpoint="/api/v1/epcis/capture").exists()
    if response["Content-Type"] == "application/problem+json":
        assert response.json()["errors"][0]["pointer"].startswith("/epcisBody/eventList/0")
    for kept in RejectedMessage.objects.all():
        assert_shown(kept, operator_client)
    assert Event.objects.count() == 0
