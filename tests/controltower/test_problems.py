"""Every API error is RFC 9457 problem+json naming the failing field."""

from __future__ import annotations

import pytest

from controltower.problems import pointer_errors

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_a_problem_not_an_html_page(client, viewer):
    client.force_login(viewer)
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/not-found"


def test_malformed_json_names_the_body(client, viewer):
    client.force_login(viewer)
    response = client.post("/api/v1/tokens", "{not json", content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "/problems/malformed-request"
    assert body["errors"][0]["pointer"] == ""


def test_problem_types_are_documented(client):
    page = client.get("/problems/validation-error")
    assert page.status_code == 200 and b"JSON pointer" in page.content
    assert client.get("/problems/no-such-type").status_code == 404


def test_nested_errors_flatten_to_json_pointers():
    detail = {
        "lines": [{}, {"quantity": ["Must be positive."]}],
        "a/b": ["Bad."],
        "non_field_errors": ["Whole thing wrong."],
    }
    assert pointer_errors(detail) == [
        {"pointer": "/lines/1/quantity", "detail": "Must be positive."},
        {"pointer": "/a~1b", "detail": "Bad."},
        {"pointer": "", "detail": "Whole thing wrong."},
    ]


def test_openapi_schema_documents_bearer_auth_and_problems(client, viewer):
    client.force_login(viewer)
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    me = schema["paths"]["/api/v1/me"]["get"]["responses"]
    assert "application/problem+json" in me["401"]["content"]


def test_an_unreachable_database_is_a_503_problem_not_a_500(client, viewer, monkeypatch):
    from django.db import OperationalError, connection

    client.force_login(viewer)

    def refused(*args, **kwargs):  # what psycopg raises when PostgreSQL turns us away
        raise OperationalError("connection failed: sorry, too many clients already")

    monkeypatch.setattr(connection, "cursor", refused)
    response = client.get("/api/v1/systems")
    assert response.status_code == 503
    assert response["Retry-After"] == "5" and response.json()["type"] == "/problems/service-unavailable"
