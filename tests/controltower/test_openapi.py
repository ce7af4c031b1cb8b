"""The OpenAPI schema describes what the server does: what each operation takes and answers."""

from __future__ import annotations

import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.factories import po_released

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _events_post_in(media_type: str, event: dict) -> tuple[str, dict]:
    """A valid event sent the way `media_type` means: (body, extra headers)."""
    if media_type == "application/cloudevents-batch+json":
        return json.dumps([event]), {}
    if media_type == "application/cloudevents+json":
        return json.dumps(event), {}
    # Binary mode: the body is the data, the attributes are headers.
    names = ("specversion", "id", "source", "type", "time")
    return json.dumps(event["data"]), {f"ce-{name}": event[name] for name in names}


def test_every_content_type_the_schema_offers_for_events_is_accepted(client, network, schema):
    operation = schema["paths"]["/api/v1/events"]["post"]
    offered = set(operation["requestBody"]["content"])
    assert offered == {
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/json",
    }
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {"ce-specversion", "ce-id", "ce-source", "ce-type"} <= headers  # how binary mode is sent
    for number, media_type in enumerate(sorted(offered)):
        body, extra = _events_post_in(media_type, po_released(po=f"45000{number}", event_id=f"doc-{number}"))
        response = client.post(
            "/api/v1/events", body, content_type=media_type, headers={**network["erp"].headers, **extra}
        )
        assert response.status_code in (200, 202), (media_type, response.content[:300])
        assert str(response.status_code) in operation["responses"]


def test_every_error_every_operation_documents_is_a_problem(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            errors = {code: r for code, r in operation["responses"].items() if code[0] in "45"}
            assert {"400", "401", "403", "404", "503"} <= set(errors), (method, path)
            for code, response in errors.items():
                assert list(response.get("content", {})) == ["application/problem+json"], (method, path, code)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/deliveries",
        "/api/v1/events",
        "/api/v1/rejected-messages",
        "/api/v1/replays",
        "/api/v1/traces",
        "/api/v1/plants",
    ],
)
def test_paged_lists_are_documented_as_pages(schema, path):
    operation = schema["paths"][path]["get"]
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert {"next", "previous", "results"} <= set(page["properties"])
    assert "cursor" in {p["name"] for p in operation["parameters"]}
