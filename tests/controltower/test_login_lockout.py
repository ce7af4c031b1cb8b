"""Sign-in throttling: failed sign-ins lock an account from an address, and an address as a
whole at a looser limit; the lock is answered with our page, lapses, and an admin can lift it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone

from controltower.accounts.lockout import COMMAND_LINE, client_address
from controltower.accounts.roles import Role
from controltower.audit.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def sign_in(client, username: str, password: str, *, address: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in_as(client) -> str | None:
    me = client.get("/api/v1/me")
    return me.json().get("username") if me.status_code == 200 else None


@pytest.fixture
def alice(make_user):
    return make_user("alice", Role.VIEWER)


@pytest.fixture
def bob(make_user):
    return make_user("bob", Role.VIEWER)


def test_thirty_wrong_passwords_then_the_right_one_is_refused_with_our_page(client, alice):
    for _ in range(30):
        sign_in(client, "alice", "wrong-password")

    response = sign_in(client, "alice", PASSWORD)

    assert response.status_code == 429
    assert int(response["Retry-After"]) == 15 * 60
    page = response.content.decode()
    assert "Sign-in locked for now" in page and "<main" in page  # the project's page, in its layout
    assert signed_in_as(client) is None


def test_the_fifth_failure_locks_and_the_fourth_does_not(client, alice):
    for _ in range(4):
        assert sign_in(client, "alice", "wrong").status_code == 200  # the form again, with its error
    assert sign_in(client, "alice", PASSWORD).status_code == 302
    client.logout()

    for _ in range(5):
        sign_in(client, "alice", "wrong")
    assert sign_in(client, "alice", PASSWORD).status_code == 429


def test_after_the_cool_off_the_right_password_signs_in(client, alice):
    for _ in range(30):
        sign_in(client, "alice", "wrong-password")
    assert sign_in(client, "alice", PASSWORD).status_code == 429

    # 15 minutes pass (the lock counts from the last failure).
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    response = sign_in(client, "alice", PASSWORD)

    assert response.status_code == 302
    assert signed_in_as(client) == "alice"


def test_another_account_from_the_same_address_is_unaffected_below_the_address_limit(client, alice, bob):
    for _ in range(30):
        sign_in(client, "alice", "wrong-password")

    response = sign_in(client, "bob", PASSWORD)

    assert response.status_code == 302
    assert signed_in_as(client) == "bob"


def test_the_same_account_from_another_address_is_unaffected(client, alice):
    for _ in range(30):
        sign_in(client, "alice", "wrong-password", address="10.0.0.1")

    assert sign_in(client, "alice", PASSWORD, address="10.9.9.9").status_code == 302


def test_an_address_guessing_across_accounts_is_locked_at_its_own_limit(client, settings, alice, bob):
    settings.LOGIN_LOCKOUT_LIMITS = {**settings.LOGIN_LOCKOUT_LIMITS, "ip_address": 8}
    for n in range(8):
        sign_in(client, f"guess-{n}", "wrong")  # one try each: no single account reaches 5

    assert sign_in(client, "bob", PASSWORD).status_code == 429
    assert sign_in(client, "bob", PASSWORD, address="10.9.9.9").status_code == 302


def test_the_admin_sign_in_is_throttled_too(client, make_user):
    make_user("root", Role.ADMIN).__class__.objects.filter(username="root").update(is_staff=True)
    for _ in range(5):
        client.post("/admin/login/", {"username": "root", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")

    response = client.post(
        "/admin/login/", {"username": "root", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1"
    )

    assert response.status_code == 429


def test_an_xhr_sign_in_that_is_locked_gets_a_problem(client, alice):
    for _ in range(5):
        sign_in(client, "alice", "wrong")

    response = client.post(
        LOGIN,
        {"username": "alice", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    )

    assert response.status_code == 429 and response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/sign-in-locked"


def test_admins_see_the_failures_and_lift_a_lock_with_the_reset_command(client, make_user, alice):
    for _ in range(5):
        sign_in(client, "alice", "wrong")
    assert AccessFailureLog.objects.filter(username="alice").count() == 5
    root = make_user("root", Role.ADMIN)
    root.is_staff = root.is_superuser = True
    root.save()
    client.force_login(root)
    assert "alice" in client.get("/admin/axes/accessattempt/").content.decode()
    client.logout()

    call_command("axes_reset_username", "alice")

    assert sign_in(client, "alice", PASSWORD).status_code == 302


# --- lockouts and unlocks in our own audit log ----------------------------------------------------


def audited(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


@pytest.fixture
def root(make_user):
    user = make_user("root", Role.ADMIN)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def test_a_lockout_is_audited_once_with_the_username_and_address_and_no_password(client, alice):
    for _ in range(5):
        sign_in(client, "alice", "hunter2-guess", address="198.51.100.7")
    for _ in range(3):  # refused while locked: the same lockout, not new ones
        assert sign_in(client, "alice", "hunter2-guess", address="198.51.100.7").status_code == 429
    assert sign_in(client, "alice", PASSWORD, address="198.51.100.7").status_code == 429

    (entry,) = audited("signin.lockout")
    assert (entry.object_type, entry.object_id) == ("accounts.user", str(alice.pk))
    assert entry.details["username"] == "alice" and entry.details["address"] == "198.51.100.7"
    assert "alice" in entry.summary and "198.51.100.7" in entry.summary
    everything = json.dumps([entry.summary, entry.details, entry.reason, entry.actor_name])
    assert "hunter2" not in everything and PASSWORD not in everything
    assert entry.actor is None  # done by the throttle, not by a person


def test_a_lockout_of_a_name_that_is_no_account_is_audited_by_that_name(client):
    for _ in range(5):
        sign_in(client, "nobody-here", "wrong")
    (entry,) = audited("signin.lockout")
    assert (entry.object_id, entry.details["username"]) == ("", "nobody-here")


def test_an_admin_lifting_a_lock_in_the_admin_is_audited_with_the_admin(client, root, alice):
    for _ in range(5):
        sign_in(client, "alice", "wrong")
    client.force_login(root)
    attempts = list(AccessAttempt.objects.filter(username="alice").values_list("pk", flat=True))
    response = client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": attempts, "post": "yes"},
    )
    assert response.status_code == 302 and not AccessAttempt.objects.filter(username="alice").exists()

    (entry,) = audited("signin.unlock")
    assert entry.actor == root and entry.object_id == str(alice.pk)
    assert (entry.details["username"], entry.details["address"]) == ("alice", "10.0.0.1")
    client.logout()
    assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_an_unlock_with_the_reset_command_is_audited(client, alice, bob):
    for _ in range(5):
        sign_in(client, "alice", "wrong")
    sign_in(client, "bob", "wrong")  # one failure: bob is not locked, so lifting it is no unlock

    call_command("axes_reset")

    (entry,) = audited("signin.unlock")
    assert entry.actor_name == COMMAND_LINE and entry.details["username"] == "alice"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "6.6.6.6", "192.0.2.1"),  # no proxy trusted: the header is the client's claim, ignored
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the address our one proxy saw
        (2, "6.6.6.6, 203.0.113.7, 10.1.1.1", "203.0.113.7"),
        (2, "203.0.113.7", "192.0.2.1"),  # fewer entries than proxies: not through them
    ],
)
def test_the_client_address_reads_x_forwarded_for_only_through_trusted_proxies(
    settings, proxies, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == expected
