"""API bodies the database cannot hold are refused with a 400 naming the field, never a 500."""

from __future__ import annotations

import pytest
from rest_framework.exceptions import ValidationError

from controltower.accounts.roles import Role
from controltower.json_values import MAX_DEPTH
from controltower.parsers import refuse_unstorable

pytestmark = pytest.mark.django_db

SUBSCRIPTION = '{"name": "n", "target": "erp", "event_types": ["purchase_order.released"], "mapping": %s}'
REPLAY = '{"kind": "retry", "dry_run": true, "filter": {"target": %s}}'


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("ada", Role.ADMIN))
    return client


@pytest.mark.parametrize(
    ("template", "value", "pointer"),
    [
        (SUBSCRIPTION, '{"po": "PO\\u0000X"}', "/mapping/po"),
        (SUBSCRIPTION, '{"p\\u0000o": "x"}', "/mapping/p\x00o"),
        (SUBSCRIPTION, '{"po": "\\ud800"}', "/mapping/po"),
        (SUBSCRIPTION, '{"qty": 1e400}', "/mapping/qty"),
        (SUBSCRIPTION, '{"lines": [1, {"qty": -1e999}]}', "/mapping/lines/1/qty"),
        (SUBSCRIPTION, "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5), "/mapping" + "/0" * (MAX_DEPTH - 1)),
        (REPLAY, '"erp\\u0000"', "/filter/target"),
        (REPLAY, '"\\udfff"', "/filter/target"),
    ],
)
def test_an_unstorable_json_value_is_a_400_problem_pointing_at_it(admin_client, template, value, pointer):
    url = "/api/v1/subscriptions" if template is SUBSCRIPTION else "/api/v1/replays"
    response = admin_client.post(url, template % value, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    assert [e["pointer"] for e in response.json()["errors"]] == [pointer]


@pytest.mark.parametrize("body", ['{"name": NaN}', '{"name": Infinity}', "[" * 100_000 + "]" * 100_000])
def test_json_that_is_not_json_or_too_deep_to_read_is_a_malformed_request(admin_client, body):
    response = admin_client.post("/api/v1/subscriptions", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["type"] == "/problems/malformed-request"


def test_a_nul_in_a_form_field_is_a_400_problem(admin_client, make_user):
    response = admin_client.post("/api/v1/subscriptions", {"name": "n", "target": "erp\x00"})
    assert response.status_code == 400
    assert [e["pointer"] for e in response.json()["errors"]] == ["/target"]


def test_every_unstorable_value_is_refused_by_pointer_and_good_ones_are_not():
    data = {"ok": ["fine", 1.5, None, True], "a/b": "x\x00", "n": [float("nan")]}
    with pytest.raises(ValidationError) as refused:
        refuse_unstorable(data)
    assert refused.value.detail == {
        "a/b": ["Contains a NUL character (U+0000), which cannot be stored."],
        "n": {"0": ["Is NaN or infinite (e.g. 1e400): JSON numbers are finite."]},
    }
    assert refuse_unstorable(data["ok"]) is data["ok"]
