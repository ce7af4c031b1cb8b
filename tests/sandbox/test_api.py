"""`/api/v1/sandbox/…`: reading receivers and receipts (view), changing them (configure)."""

from __future__ import annotations

import pytest

from controltower.accounts.roles import Role
from integrations.sandbox.models import SandboxReceipt, SandboxReceiver
from integrations.sandbox.services import sandbox_receipt_record
from tests.sandbox.conftest import cloudevent

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(make_user):
    return make_user("ada", Role.ADMIN)


def record(receiver: SandboxReceiver, key: str, *, times: int = 1) -> SandboxReceipt:
    for _ in range(times):
        recorded = sandbox_receipt_record(
            receiver=receiver,
            idempotency_key=key,
            body=cloudevent(f"evt-{key}"),
            content_type="application/cloudevents+json",
            headers={"Authorization": "Bearer x"},
        )
    return recorded.receipt


def test_viewer_lists_receivers_with_settings_and_counts_but_never_the_secret(client, viewer, make_receiver):
    erp = make_receiver("erp", error_rate=0.25, latency_ms=40, auth_kind="bearer", secret="tok")
    make_receiver("tms")
    record(erp, "a", times=3)
    record(erp, "b")
    client.force_login(viewer)

    receivers = {r["code"]: r for r in client.get("/api/v1/sandbox/receivers").json()}

    assert list(receivers) == ["erp", "tms"]
    erp_row = receivers["erp"]
    assert erp_row["sandbox"] is True
    assert erp_row["url"] == "http://testserver/sandbox/erp/"
    assert (erp_row["error_rate"], erp_row["latency_ms"], erp_row["auth_kind"]) == (0.25, 40, "bearer")
    assert (erp_row["receipt_count"], erp_row["received_count"]) == (2, 4)
    assert erp_row["has_secret"] is True and "secret" not in erp_row
    assert (receivers["tms"]["receipt_count"], receivers["tms"]["last_receipt_at"]) == (0, None)


def test_anonymous_caller_is_refused_with_a_401_problem(client, make_receiver):
    make_receiver("erp")

    response = client.get("/api/v1/sandbox/receivers")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_unknown_receiver_is_a_404_problem(client, viewer):
    client.force_login(viewer)

    response = client.get("/api/v1/sandbox/receivers/nowhere")

    assert response.status_code == 404
    assert response.json()["type"] == "/problems/not-found"


def test_configure_may_patch_settings_and_they_are_saved(client, admin_user, make_receiver):
    make_receiver("erp")
    client.force_login(admin_user)

    response = client.patch(
        "/api/v1/sandbox/receivers/erp",
        {"error_rate": 1, "error_status": 429, "retry_after_seconds": 3, "outage": True, "latency_ms": 250},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["error_status"] == 429 and response.json()["outage"] is True
    erp = SandboxReceiver.objects.get(code="erp")
    assert (erp.error_rate, erp.error_status, erp.retry_after_seconds, erp.outage, erp.latency_ms) == (
        1.0,
        429,
        3,
        True,
        250,
    )


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_only_configure_may_patch_a_receiver(client, make_user, make_receiver, role):
    make_receiver("erp")
    client.force_login(make_user("someone", role))

    response = client.patch(
        "/api/v1/sandbox/receivers/erp", {"outage": True}, content_type="application/json"
    )

    assert response.status_code == 403
    assert response.json()["type"] == "/problems/forbidden"
    assert SandboxReceiver.objects.get(code="erp").outage is False


def test_bad_settings_are_a_400_problem_naming_each_field_and_change_nothing(
    client, admin_user, make_receiver
):
    make_receiver("erp", latency_ms=10)
    client.force_login(admin_user)

    response = client.patch(
        "/api/v1/sandbox/receivers/erp",
        {
            "error_rate": 1.5,
            "error_status": 418,
            "latency_ms": -1,
            "retry_after_seconds": "soon",
            "colour": "red",
        },
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert pointers == {"/error_rate", "/error_status", "/latency_ms", "/retry_after_seconds", "/colour"}
    erp = SandboxReceiver.objects.get(code="erp")
    assert (erp.error_rate, erp.error_status, erp.latency_ms) == (0.0, 500, 10)


@pytest.mark.parametrize(
    "settings",
    [{"auth_kind": "bearer"}, {"auth_kind": "basic", "secret": "no-colon"}],
    ids=["bearer-without-secret", "basic-secret-without-colon"],
)
def test_auth_without_a_usable_secret_is_a_400_problem_naming_the_secret(
    client, admin_user, make_receiver, settings
):
    make_receiver("erp")
    client.force_login(admin_user)

    response = client.patch("/api/v1/sandbox/receivers/erp", settings, content_type="application/json")

    assert response.status_code == 400
    assert [e["pointer"] for e in response.json()["errors"]] == ["/secret"]
    assert SandboxReceiver.objects.get(code="erp").auth_kind == "none"


def test_receipts_are_listed_newest_first_and_filtered_by_idempotency_key(client, viewer, make_receiver):
    erp = make_receiver("erp")
    for key in ("k1", "k2", "k3"):
        record(erp, key)
    record(make_receiver("tms"), "k1")
    client.force_login(viewer)

    listed = client.get("/api/v1/sandbox/receivers/erp/receipts").json()["results"]
    only_k2 = client.get("/api/v1/sandbox/receivers/erp/receipts", {"idempotency_key": "k2"}).json()

    assert [r["idempotency_key"] for r in listed] == ["k3", "k2", "k1"]
    assert [(r["idempotency_key"], r["event_id"]) for r in only_k2["results"]] == [("k2", "evt-k2")]


def test_receipts_page_by_cursor(client, viewer, make_receiver):
    erp = make_receiver("erp")
    SandboxReceipt.objects.bulk_create(
        SandboxReceipt(receiver=erp, idempotency_key=f"k{i:03}") for i in range(105)
    )
    client.force_login(viewer)

    first = client.get("/api/v1/sandbox/receivers/erp/receipts").json()
    second = client.get(first["next"]).json()

    keys = [r["idempotency_key"] for r in first["results"] + second["results"]]
    assert keys == [f"k{i:03}" for i in reversed(range(105))]
    assert second["next"] is None


def test_receipt_bodies_need_the_view_payloads_permission(client, viewer, operator, make_receiver):
    record(make_receiver("erp"), "k1")

    client.force_login(viewer)
    hidden = client.get("/api/v1/sandbox/receivers/erp/receipts").json()["results"][0]
    client.force_login(operator)
    shown = client.get("/api/v1/sandbox/receivers/erp/receipts").json()["results"][0]

    assert hidden["body"] is None
    assert '"id": "evt-k1"' in shown["body"]
    assert shown["headers"] == {"Authorization": "[redacted]"}


def test_configure_may_clear_a_receivers_receipts_and_only_its_own(client, admin_user, make_receiver):
    erp, tms = make_receiver("erp"), make_receiver("tms")
    record(erp, "k1")
    record(erp, "k2")
    record(tms, "k1")
    client.force_login(admin_user)

    response = client.delete("/api/v1/sandbox/receivers/erp/receipts")

    assert response.status_code == 200
    assert response.json() == {"deleted": 2}
    assert list(SandboxReceipt.objects.values_list("receiver__code", flat=True)) == ["tms"]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_only_configure_may_clear_receipts(client, make_user, make_receiver, role):
    record(make_receiver("erp"), "k1")
    client.force_login(make_user("someone", role))

    response = client.delete("/api/v1/sandbox/receivers/erp/receipts")

    assert response.status_code == 403
    assert SandboxReceipt.objects.count() == 1
