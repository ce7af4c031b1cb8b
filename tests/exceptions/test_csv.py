"""CSV export of a filtered queue (the page's link and the API): every matching case in the
reader's scope, streamed, with text a spreadsheet would run as a formula defused."""

from __future__ import annotations

import csv
import io

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from django.urls import reverse

from exceptions.models import Case
from exceptions.services.bulk_export import csv_safe
from tests.exceptions.test_api import made_cases, signed_in

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="exceptions-')
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_page_link_exports_every_matching_case_in_the_queues_order(client, handler, plants):
    made_cases(55, plant=plants["north"], key="north")  # more than the page shows
    made_cases(2, plant=plants["south"], key="south")
    signed_in(client, handler)
    page = client.get(reverse("cases"), {"plant": "P-NORTH", "sort": "age"})
    assert b'href="/exceptions/export.csv?plant=P-NORTH&amp;sort=age"' in page.content
    rows = rows_of(client.get("/exceptions/export.csv", {"plant": "P-NORTH", "sort": "age"}))
    expected = Case.objects.filter(plant=plants["north"]).order_by("opened_at", "id")
    assert [int(row["id"]) for row in rows] == list(expected.values_list("pk", flat=True))
    first = expected.first()
    assert rows[0]["title"] == first.title and rows[0]["plant"] == "P-NORTH" and rows[0]["state"] == "open"
    assert rows[0]["severity"] == first.get_severity_display() and rows[0]["summary"] == first.summary


def test_the_export_holds_only_the_readers_scope(client, north_handler, plants):
    north = made_cases(2, plant=plants["north"], key="north")
    made_cases(3, plant=plants["south"], key="south")
    signed_in(client, north_handler)
    for url in ("/exceptions/export.csv", "/api/v1/exceptions/export"):
        assert {int(row["id"]) for row in rows_of(client.get(url))} == {case.pk for case in north}
        assert rows_of(client.get(url, {"plant": "P-SOUTH"})) == []


def test_cells_that_would_run_as_a_formula_stay_text(client, handler, plants):
    for start in ("=", "+", "-", "@"):
        made_cases(1, plant=plants["north"], key=f'{start}HYPERLINK("http://evil.example")')
    signed_in(client, handler)
    titles = {row["title"] for row in rows_of(client.get("/api/v1/exceptions/export"))}
    assert titles == {f'\'{start}HYPERLINK("http://evil.example") case 0' for start in "=+-@"}
    assert csv_safe("\tcmd") == "'\tcmd" and csv_safe("plain = text") == "plain = text" and csv_safe(-5) == -5


def test_a_bad_filter_is_a_problem_even_when_csv_is_accepted(client, handler):
    signed_in(client, handler)
    response = client.get("/api/v1/exceptions/export", {"age": "ancient"}, headers={"Accept": "text/csv"})
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == "/age"
    assert client.get("/exceptions/export.csv", {"age": "ancient"}).status_code == 400  # the queue says why


def test_a_viewer_exports_and_an_anonymous_caller_is_refused(client, viewer, plants):
    made_cases(1, plant=plants["north"])
    assert client.get("/api/v1/exceptions/export").status_code in (401, 403)
    signed_in(client, viewer)
    assert len(rows_of(client.get("/api/v1/exceptions/export"))) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.anyio
async def test_under_asgi_the_export_streams_in_batches(handler, plants):
    await sync_to_async(made_cases)(1200, plant=plants["north"])
    client = AsyncClient()
    await sync_to_async(client.force_login)(handler)
    response = await client.get("/api/v1/exceptions/export")
    assert response.status_code == 200 and response.is_async
    parts = [part async for part in response.streaming_content]
    assert len(parts) >= 3  # 1,201 lines in batches of 500, not one body read into memory
    assert b"".join(parts).decode().count("\r\n") == 1201
