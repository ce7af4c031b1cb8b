"""Sandbox receivers over real HTTP, to the real ASGI app under uvicorn."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from integrations.sandbox.models import SandboxReceipt
from integrations.signing import SIGNATURE_HEADER, signature_header
from tests.sandbox.conftest import cloudevent

# Committed data: the server runs in another process and must see the receivers.
pytestmark = pytest.mark.django_db(transaction=True)

STRUCTURED = {"Content-Type": "application/cloudevents+json"}


def post(base_url: str, code: str, *, key: str | None = "key-1", body: bytes | None = None, **headers):
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(
        f"{base_url}/sandbox/{code}/",
        content=cloudevent() if body is None else body,
        headers={**STRUCTURED, **headers},
        timeout=30,
    )


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    return problem


def test_first_post_is_recorded_and_a_repeat_of_its_key_only_counts_up(asgi_server, make_receiver):
    make_receiver("erp")
    first = post(asgi_server, "erp", key="po-4500012345-1", body=cloudevent("evt-42"))
    repeat = post(asgi_server, "erp", key="po-4500012345-1", body=cloudevent("evt-42"))

    assert first.status_code == 201
    assert first.json() == {
        "receipt": first.json()["receipt"],
        "receiver": "erp",
        "idempotency_key": "po-4500012345-1",
        "duplicate": False,
    }
    assert repeat.status_code == 200
    assert repeat.json() == {**first.json(), "duplicate": True}
    receipt = SandboxReceipt.objects.get()
    assert receipt.pk == first.json()["receipt"]
    assert receipt.times_received == 2
    assert receipt.last_received_at > receipt.first_received_at
    assert (receipt.event_type, receipt.event_id) == ("purchase_order.released", "evt-42")
    assert receipt.content_type == "application/cloudevents+json"
    assert '"po_number": "4500012345"' in receipt.body


def test_twenty_concurrent_posts_of_one_key_leave_one_receipt(asgi_server, make_receiver):
    make_receiver("erp")

    def send(_):
        return post(asgi_server, "erp", key="same-key")

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(send, range(20)))

    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert len({r.json()["receipt"] for r in responses}) == 1
    assert [r.json()["duplicate"] for r in responses].count(False) == 1
    receipt = SandboxReceipt.objects.get()
    assert receipt.times_received == 20


def test_outage_answers_503_with_retry_after_to_everything_and_records_nothing(asgi_server, make_receiver):
    make_receiver("erp", outage=True, retry_after_seconds=7, auth_kind="bearer", secret="s3cret")

    with_everything = post(asgi_server, "erp", Authorization="Bearer s3cret")
    without_credentials_or_key = post(asgi_server, "erp", key=None)

    for response in (with_everything, without_credentials_or_key):
        problem = assert_problem(response, 503)
        assert response.headers["Retry-After"] == "7"
        assert problem["type"] == "/problems/sandbox-outage"
    assert not SandboxReceipt.objects.exists()


@pytest.mark.parametrize(
    "status, retry_after, expected_retry_after",
    [(429, 7, "7"), (503, 2, "2"), (500, 7, None), (422, None, None)],
)
def test_error_rate_one_answers_the_error_status_and_records_nothing(
    asgi_server, make_receiver, status, retry_after, expected_retry_after
):
    make_receiver("portal", error_rate=1.0, error_status=status, retry_after_seconds=retry_after)

    responses = [post(asgi_server, "portal", key=f"k-{i}") for i in range(3)]

    for response in responses:
        problem = assert_problem(response, status)
        assert problem["type"] == "/problems/sandbox-injected-error"
        assert response.headers.get("Retry-After") == expected_retry_after
    assert not SandboxReceipt.objects.exists()


def test_latency_delays_each_answer_without_queueing_other_requests(asgi_server, make_receiver):
    make_receiver("tms", latency_ms=600)

    started = time.monotonic()
    alone = post(asgi_server, "tms", key="alone")
    alone_took = time.monotonic() - started
    started = time.monotonic()
    with ThreadPoolExecutor(5) as pool:
        together = list(pool.map(lambda i: post(asgi_server, "tms", key=f"k-{i}"), range(5)))
    together_took = time.monotonic() - started

    assert alone.status_code == 201 and alone_took >= 0.6
    assert [r.status_code for r in together] == [201] * 5
    # Queued one after another they would take 3 s; side by side, about one latency.
    assert 0.6 <= together_took < 2.0


def test_bearer_receiver_accepts_its_token_and_refuses_others_with_401(asgi_server, make_receiver):
    make_receiver("erp", auth_kind="bearer", secret="tok-123")

    for headers in ({}, {"Authorization": "Bearer tok-124"}, {"Authorization": "Basic dG9rLTEyMw=="}):
        response = post(asgi_server, "erp", key="k", **headers)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not SandboxReceipt.objects.exists()

    assert post(asgi_server, "erp", key="k", Authorization="Bearer tok-123").status_code == 201
    assert SandboxReceipt.objects.get().headers["Authorization"] == "[redacted]"


def test_basic_receiver_accepts_its_user_and_password_and_refuses_others_with_401(asgi_server, make_receiver):
    make_receiver("portal", auth_kind="basic", secret="acme:pa:ss")

    def basic(user_password: str) -> str:
        return "Basic " + base64.b64encode(user_password.encode()).decode()

    for authorization in (
        basic("acme:wrong"),
        basic("other:pa:ss"),
        "Basic not-base64!",
        "Bearer acme:pa:ss",
    ):
        response = post(asgi_server, "portal", key="k", Authorization=authorization)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert not SandboxReceipt.objects.exists()

    response = httpx.post(
        f"{asgi_server}/sandbox/portal/",
        content=cloudevent(),
        headers={**STRUCTURED, "Idempotency-Key": "k"},
        auth=("acme", "pa:ss"),
        timeout=30,
    )
    assert response.status_code == 201
    assert SandboxReceipt.objects.get().headers["Authorization"] == "[redacted]"


def test_hmac_receiver_accepts_a_valid_signature_and_refuses_others_with_401(asgi_server, make_receiver):
    make_receiver("tms", auth_kind="hmac", secret="hmac-key")
    body = cloudevent("evt-signed")
    refused = {
        "no signature": {},
        "other secret": {SIGNATURE_HEADER: signature_header(secret="other", body=body)},
        "other body": {SIGNATURE_HEADER: signature_header(secret="hmac-key", body=cloudevent("evt-other"))},
        "stale": {
            SIGNATURE_HEADER: signature_header(secret="hmac-key", body=body, timestamp=time.time() - 3600)
        },
    }
    for why, headers in refused.items():
        response = post(asgi_server, "tms", key="k", body=body, **headers)
        assert response.status_code == 401, why
    assert not SandboxReceipt.objects.exists()

    signed = {SIGNATURE_HEADER: signature_header(secret="hmac-key", body=body)}
    assert post(asgi_server, "tms", key="k", body=body, **signed).status_code == 201
    assert SandboxReceipt.objects.get().event_id == "evt-signed"


def test_missing_idempotency_key_is_400_and_records_nothing(asgi_server, make_receiver):
    make_receiver("erp")

    problem = assert_problem(post(asgi_server, "erp", key=None), 400)

    assert "missing Idempotency-Key" in problem["detail"]
    assert not SandboxReceipt.objects.exists()


def test_body_over_one_megabyte_is_413_and_records_nothing(asgi_server, make_receiver):
    make_receiver("erp")

    assert_problem(post(asgi_server, "erp", body=b"x" * (1024 * 1024 + 1)), 413)
    assert post(asgi_server, "erp", body=b"x" * (1024 * 1024), key="exactly-1mb").status_code == 201
    assert list(SandboxReceipt.objects.values_list("idempotency_key", flat=True)) == ["exactly-1mb"]


def test_checks_answer_in_order_outage_credentials_key_size(asgi_server, make_receiver):
    receiver = make_receiver("erp", auth_kind="bearer", secret="tok")
    too_big = b"x" * (1024 * 1024 + 1)

    assert post(asgi_server, "erp", key=None, body=too_big).status_code == 401
    assert post(asgi_server, "erp", key=None, body=too_big, Authorization="Bearer tok").status_code == 400
    assert post(asgi_server, "erp", body=too_big, Authorization="Bearer tok").status_code == 413
    receiver.outage = True
    receiver.save()
    assert post(asgi_server, "erp", key=None, body=too_big).status_code == 503


def test_get_is_a_405_problem_allowing_post(asgi_server, make_receiver):
    make_receiver("erp")

    response = httpx.get(f"{asgi_server}/sandbox/erp/", timeout=30)

    assert_problem(response, 405)
    assert response.headers["Allow"] == "POST"


def test_unknown_receiver_is_a_404_problem(asgi_server, make_receiver):
    make_receiver("erp")

    problem = assert_problem(post(asgi_server, "nowhere"), 404)

    assert problem["type"] == "/problems/not-found"


def test_a_target_url_without_the_trailing_slash_is_received_too(asgi_server, make_receiver):
    make_receiver("erp")

    response = httpx.post(
        f"{asgi_server}/sandbox/erp", content=b"{}", headers={"Idempotency-Key": "k"}, timeout=30
    )

    assert response.status_code == 201
    assert SandboxReceipt.objects.get().idempotency_key == "k"
