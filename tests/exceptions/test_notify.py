"""Notifications: owners hear of a new high-severity case and of a breach once, by email (Django's
locmem backend) and by their team's webhook — a real delivery, by a real Celery worker, to a
real HTTP receiver — and a burst of cases is one digest, not a flood."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection

from controltower.accounts.roles import Role
from exceptions.models import Case, Digest, Notice, RoutingRule, SlaPolicy, Team
from exceptions.services.notify import digest_write, notices_record, notifications_flush
from exceptions.services.routing_sla import cases_escalate
from integrations.delivery.models import Delivery, Target
from integrations.models import Event
from tests.conftest import wait_for
from tests.exceptions.test_routing import open_one


@pytest.fixture
def owners(make_user):
    """A north team with its own address and a handler with hers; a rule gives them cases."""
    hanna = make_user("hanna", Role.EXCEPTION_HANDLER)
    hanna.email = "hanna@example.com"
    hanna.save()
    team = Team.objects.create(name="north", email="north@example.com")
    RoutingRule.objects.create(name="all to north", team=team, assignee=hanna)
    return team, hanna


def _to(message) -> str:
    return ",".join(message.to)


@pytest.mark.django_db
def test_a_new_high_severity_case_is_emailed_to_its_owners_once(owners):
    team, hanna = owners
    case = open_one(key="a", severity=Case.Severity.HIGH)
    open_one(key="quiet", severity=Case.Severity.MEDIUM)  # not high: nobody is disturbed

    flushed = notifications_flush()
    assert (flushed.digests, flushed.emails) == (2, 2)
    assert sorted(_to(m) for m in mail.outbox) == ["hanna@example.com", "north@example.com"]
    message = mail.outbox[0]
    assert message.subject == f"High exception case new for {message.subject.split(' for ')[1]}"
    assert case.title in message.subject and f"/exceptions/{case.pk}/" in message.body

    # Flushing again, or recording the same news again (a retried task), sends nothing more.
    notices = Notice.objects.count()
    notices_record(case=case, event=Notice.Event.OPENED, recipients=[f"team:{team.pk}"])
    assert Notice.objects.count() == notices
    notifications_flush()
    notifications_flush()
    assert len(mail.outbox) == 2
    assert Digest.objects.filter(sent_at__isnull=False).count() == 2


@pytest.mark.django_db
def test_a_burst_of_cases_is_one_digest_per_recipient_per_interval(owners, settings, make_user):
    settings.EXCEPTIONS_NOTIFY_DIGEST_MINUTES = 10
    team, _ = owners
    Team.objects.filter(pk=team.pk).update(email="")  # the team's members are its addresses
    for name in ("tom", "tina"):
        member = make_user(name, Role.EXCEPTION_HANDLER)
        member.email = f"{name}@example.com"
        member.save()
        team.members.add(member)
    first = open_one(key="first", severity=Case.Severity.CRITICAL)
    sent_at = first.opened_at
    notifications_flush(now=sent_at)
    assert len(mail.outbox) == 2  # the first news of a quiet spell goes out at once
    assert sorted(_to(m) for m in mail.outbox) == ["hanna@example.com", "tina@example.com,tom@example.com"]

    burst = [open_one(key=f"burst-{n}", severity=Case.Severity.HIGH) for n in range(5)]
    notifications_flush(now=sent_at + timedelta(minutes=4))
    notifications_flush(now=sent_at + timedelta(minutes=9))
    assert len(mail.outbox) == 2  # within the interval: the burst waits

    notifications_flush(now=sent_at + timedelta(minutes=10))
    assert len(mail.outbox) == 4  # one more message per recipient, carrying all five
    digest = mail.outbox[-1]
    assert digest.subject.startswith("5 exception cases need")
    for case in burst:
        assert f"case {case.pk}, {case.title}" in digest.body
    assert "at most once per 10 minutes" in digest.body


@pytest.mark.django_db
def test_a_breach_is_told_to_the_owners_and_the_manager(owners, make_user):
    team, hanna = owners
    maria = make_user("maria", Role.MANAGER)
    maria.email = "maria@example.com"
    maria.save()
    SlaPolicy.objects.create(severity=Case.Severity.MEDIUM, hours=2, escalate_manager=maria)
    case = open_one(key="a", severity=Case.Severity.MEDIUM)  # not news when it opened
    assert not Notice.objects.exists()
    cases_escalate(now=case.opened_at + timedelta(hours=3))
    notifications_flush()
    assert sorted(_to(m) for m in mail.outbox) == [
        "hanna@example.com",
        "maria@example.com",
        "north@example.com",
    ]
    assert all("past its handling time" in m.subject for m in mail.outbox)


class FlakyMailServer(BaseEmailBackend):
    """A mail server that is down for the first `failures` messages (outside our product)."""

    failures = 1

    def send_messages(self, messages):
        if FlakyMailServer.failures:
            FlakyMailServer.failures -= 1
            raise ConnectionRefusedError("mail server down")
        mail.outbox.extend(messages)
        return len(messages)


@pytest.mark.django_db
def test_an_email_the_mail_server_refused_is_sent_later_once(owners, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyMailServer"
    Team.objects.filter(pk=owners[0].pk).update(email="")
    for each in RoutingRule.objects.all():  # one recipient: hanna
        each.team = None
        each.save()
    FlakyMailServer.failures = 1
    open_one(key="a", severity=Case.Severity.HIGH)
    assert notifications_flush().emails == 0
    digest = Digest.objects.get()
    assert digest.sent_at is None and digest.attempts == 1 and "mail server down" in digest.error
    assert notifications_flush().emails == 1
    assert notifications_flush().emails == 0
    assert [_to(m) for m in mail.outbox] == ["hanna@example.com"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_workers_flushing_at_once_put_each_notice_in_one_digest(owners):
    for n in range(6):
        open_one(key=f"c{n}", severity=Case.Severity.HIGH)
    barrier = threading.Barrier(4)

    def run():
        barrier.wait()
        try:
            notifications_flush()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(_to(m) for m in mail.outbox) == ["hanna@example.com", "north@example.com"]
    assert not Notice.objects.filter(digest__isnull=True).exists()
    assert Digest.objects.count() == 2
    assert all(d.notices.count() == 6 for d in Digest.objects.all())


class Receiver:
    """A team chat's incoming webhook we do not own: records every POST, answers `status`."""

    def __init__(self) -> None:
        receiver = self
        self.status, self.posts = 200, []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append((dict(self.headers), json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/north"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.stop()


@pytest.fixture
def webhook_team(db, receiver):
    target = Target.objects.create(
        code="north-chat",
        name="North team chat",
        url=receiver.url,
        timeout_seconds=5.0,
        max_attempts=5,
        backoff_seconds=0.5,
        backoff_max_seconds=1.0,
    )
    team = Team.objects.create(name="north", webhook=target)
    RoutingRule.objects.create(name="all to north", team=team)
    return team


@pytest.mark.django_db(transaction=True)
def test_a_team_webhook_is_a_real_delivery_made_once_by_a_real_worker(
    webhook_team, receiver, celery_worker_process, settings
):
    receiver.status = 503  # the chat service is down at first: the delivery machinery retries
    first = open_one(key="a", severity=Case.Severity.CRITICAL)
    wait_for(lambda: len(receiver.posts) >= 1, timeout=60, what="the first attempt at the webhook")
    second = open_one(key="b", severity=Case.Severity.HIGH)  # within the interval: next digest
    receiver.status = 200
    delivered = wait_for(
        lambda: Delivery.objects.filter(type="exception.notification", status="delivered").first(),
        timeout=60,
        what="the webhook delivery to succeed on a retry",
    )
    headers, body = receiver.posts[-1]
    assert body["@type"] == "MessageCard" and body["text"].startswith("- **Critical** new: [")
    assert body["controltower"]["cases"][0]["id"] == first.pk
    assert headers["Idempotency-Key"] == delivered.idempotency_key
    assert {h["Idempotency-Key"] for h, _ in receiver.posts} == {delivered.idempotency_key}
    assert delivered.target == webhook_team.webhook and delivered.attempts_total >= 2
    event = Event.objects.get(pk=delivered.event_id)
    assert (event.type, event.source) == ("exception.notification", "controltower")
    digest = Digest.objects.get(event_id=event.pk)
    assert digest.notices.get().case_id == first.pk

    # The second case waits for the next digest; flushing again (as beat will) sends nothing new.
    assert Notice.objects.get(case=second).digest is None
    notifications_flush()
    notifications_flush()
    assert Delivery.objects.filter(type="exception.notification").count() == 1
    # Once the interval has passed, the waiting case goes out in a digest of its own.
    later = digest_write(
        channel="webhook", recipient=f"team:{webhook_team.pk}", now=digest.created_at + timedelta(minutes=11)
    )
    assert later.notices.get().case_id == second.pk
    wait_for(
        lambda: Delivery.objects.filter(type="exception.notification", status="delivered").count() == 2,
        timeout=60,
        what="the second digest's delivery",
    )
    assert receiver.posts[-1][1]["controltower"]["cases"][0]["id"] == second.pk
    assert len({h["Idempotency-Key"] for h, _ in receiver.posts}) == 2
