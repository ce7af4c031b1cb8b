"""Notifications: telling owners of a new high-severity case and of an exceeded handling time,
by email and by their team's webhook, in digests rather than a flood.

Three steps, each idempotent:
1. `notices_record`, in the transaction that opened or escalated the case: one `Notice` per
   (case, event, opening, channel, recipient) — a unique row, so a retried task or a second
   worker records nothing more. After commit it queues the notify task.
2. `digest_write`, per recipient and channel, under that recipient's `Mailbox` row lock: if the
   recipient's last message is older than EXCEPTIONS_NOTIFY_DIGEST_MINUTES, every pending notice
   goes into ONE new `Digest` (a notice into exactly one). The first notice after a quiet spell
   goes out at once; what follows within the interval waits and is summarised in the next one.
   A webhook digest is handed to the delivery machinery in the same transaction
   (`notify_webhook`): an event of the tower's own, delivered to the team's target with its
   retries, idempotency key and dead letters.
3. `digest_email_send`: an email digest is claimed by setting `sent_at` in a transaction that
   holds the row while the mail backend sends, so two workers never both send it; a failure
   rolls the claim back and counts an attempt (a later run tries again, up to MAX_ATTEMPTS).
   The one duplicate left possible is a worker dying after the mail server took the message
   and before the commit: email is at-least-once at that edge, never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from controltower.queueing import enqueue_after_commit
from exceptions.models import Case, Digest, Mailbox, Notice, Team

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
USER, TEAM = "user", "team"
EVENT_WORDS = {Notice.Event.OPENED: "new", Notice.Event.BREACHED: "past its handling time"}


def recipient_key(who) -> str:
    """'user:<id>' for a person, 'team:<id>' for a team."""
    return f"{TEAM if isinstance(who, Team) else USER}:{who.pk}"


def _resolve(key: str):
    kind, _, pk = key.partition(":")
    model = Team if kind == TEAM else get_user_model()
    return model.objects.filter(pk=int(pk)).first() if pk.isdigit() else None


def recipient_name(key: str) -> str:
    who = _resolve(key)
    if who is None:
        return key
    return str(who) if isinstance(who, Team) else who.get_username()


def case_owners(case: Case) -> list[str]:
    """Whom a case's news goes to: its assignee and its team (nobody while unassigned)."""
    owners = []
    if case.assignee_id:
        owners.append(f"{USER}:{case.assignee_id}")
    if case.team_id:
        owners.append(f"{TEAM}:{case.team_id}")
    return owners


def _addresses(who) -> list[str]:
    if isinstance(who, Team):
        if who.email:
            return [who.email]
        return sorted({m.email for m in who.members.filter(is_active=True) if m.email})
    return [who.email] if who is not None and who.is_active and who.email else []


def _channels(key: str) -> list[str]:
    who = _resolve(key)
    if who is None:
        return []
    channels = [Notice.Channel.EMAIL] if _addresses(who) else []
    if isinstance(who, Team) and who.webhook_id:
        channels.append(Notice.Channel.WEBHOOK)
    return channels


def notices_record(*, case: Case, event: str, recipients: Iterable[str]) -> int:
    """Record that `recipients` must hear of `event` on `case` (this opening of it), on each
    channel they have; call it in the case's transaction. Returns how many it offered (those
    recorded already are left as they are)."""
    rows = [
        Notice(case=case, event=event, round=case.opened_at, channel=channel, recipient=key)
        for key in dict.fromkeys(recipients)
        for channel in _channels(key)
    ]
    if not rows:
        return 0
    Notice.objects.bulk_create(rows, ignore_conflicts=True)
    from exceptions.tasks import notify

    # Queued even if every notice existed already: the task is idempotent, and a count would
    # cost the opening two more queries.
    enqueue_after_commit(notify, queue="rules")
    return len(rows)


@dataclass
class Flushed:
    digests: int = 0
    emails: int = 0


def notifications_flush(*, now: datetime | None = None) -> Flushed:
    """Write a digest for every recipient with pending notices whose interval has passed, then
    send the email digests not sent yet. Safe to run from any number of workers at once."""
    now = now or timezone.now()
    pending = sorted(
        set(Notice.objects.filter(digest__isnull=True).values_list("channel", "recipient").distinct())
    )
    flushed = Flushed()
    for channel, recipient in pending:
        try:
            written = digest_write(channel=channel, recipient=recipient, now=now)
        except Exception:  # one recipient's trouble must not hold back the others' news
            logger.exception("exceptions: the %s digest of %s failed; its notices wait", channel, recipient)
            continue
        flushed.digests += written is not None
    flushed.emails = digests_email_send()
    return flushed


def digest_interval() -> timedelta:
    return timedelta(minutes=settings.EXCEPTIONS_NOTIFY_DIGEST_MINUTES)


def digest_write(*, channel: str, recipient: str, now: datetime | None = None) -> Digest | None:
    """One digest of `recipient`'s pending notices on `channel`, unless its last message is
    more recent than the digest interval (or nothing is pending)."""
    now = now or timezone.now()
    with transaction.atomic():
        Mailbox.objects.bulk_create([Mailbox(channel=channel, recipient=recipient)], ignore_conflicts=True)
        mailbox = Mailbox.objects.select_for_update().get(channel=channel, recipient=recipient)
        if mailbox.last_sent_at is not None and now - mailbox.last_sent_at < digest_interval():
            return None
        notices = list(
            Notice.objects.filter(channel=channel, recipient=recipient, digest__isnull=True)
            .select_related("case")
            .order_by("-case__severity", "created_at", "id")
        )
        if not notices:
            return None
        who = _resolve(recipient)
        items = [_item(notice) for notice in notices]
        subject = _subject(items, recipient_name(recipient))
        digest = Digest.objects.create(
            channel=channel, recipient=recipient, created_at=now, subject=subject[:300], body={}
        )
        Notice.objects.filter(pk__in=[n.pk for n in notices], digest__isnull=True).update(digest=digest)
        mailbox.last_sent_at = now
        mailbox.save(update_fields=["last_sent_at"])
        if channel == Notice.Channel.WEBHOOK:
            from exceptions.services.notify_webhook import digest_hand_over

            digest.body = digest_hand_over(digest=digest, items=items, team=who, now=now)
            digest.sent_at = now  # handed to the delivery machinery, which owns it from here
        else:
            digest.body = {
                "to": _addresses(who) if who is not None else [],
                "text": _email_text(items, subject),
            }
        digest.save(update_fields=["body", "sent_at", "event_id", "error"])
    return digest


@dataclass(frozen=True)
class Item:
    """One line of a digest."""

    case_id: int
    event: str
    severity: str
    title: str
    state: str
    url: str

    def as_dict(self) -> dict:
        return {
            "id": self.case_id,
            "event": self.event,
            "severity": self.severity,
            "title": self.title,
            "url": self.url,
        }


def _item(notice: Notice) -> Item:
    case = notice.case
    return Item(
        case_id=case.pk,
        event=notice.event,
        severity=case.get_severity_display(),
        title=case.title,
        state="" if case.is_active else case.get_state_display().lower(),
        url=settings.EXCEPTIONS_NOTIFY_BASE_URL.rstrip("/") + reverse("case", args=[case.pk]),
    )


def _subject(items: list[Item], name: str) -> str:
    first = items[0]
    if len(items) == 1:
        return f"{first.severity} exception case {EVENT_WORDS[first.event]} for {name}: {first.title}"
    return f"{len(items)} exception cases need {name}: {first.title} (+{len(items) - 1} more)"


def item_line(item: Item) -> str:
    since = f" (since {item.state})" if item.state else ""
    return f"[{item.severity}] {EVENT_WORDS[item.event]}: case {item.case_id}, {item.title}{since}"


def _email_text(items: list[Item], subject: str) -> str:
    lines = [subject, ""]
    for item in items:
        lines += [item_line(item), f"    {item.url}"]
    lines += [
        "",
        "Sent by the control tower at most once per "
        f"{settings.EXCEPTIONS_NOTIFY_DIGEST_MINUTES:g} minutes; later cases wait for the next digest.",
    ]
    return "\n".join(lines)


def digests_email_send(*, limit: int = 200) -> int:
    """Send the email digests not sent yet (oldest first); returns how many went out."""
    ids = list(
        Digest.objects.filter(channel=Notice.Channel.EMAIL, sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
        .order_by("created_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    return sum(digest_email_send(digest_id=digest_id) for digest_id in ids)


def digest_email_send(*, digest_id: int) -> bool:
    """Send one email digest unless it went out already; True if this call sent it."""
    try:
        with transaction.atomic():
            claimed = Digest.objects.filter(pk=digest_id, sent_at__isnull=True).update(sent_at=timezone.now())
            if not claimed:
                return False
            digest = Digest.objects.get(pk=digest_id)
            if not digest.body.get("to"):
                raise ValueError("no address to send to (the recipient has no email any more)")
            EmailMessage(
                subject=digest.subject,
                body=digest.body.get("text", ""),
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=digest.body["to"],
            ).send()
    except Exception as error:  # noqa: BLE001 — a mail server's trouble is recorded, then retried
        Digest.objects.filter(pk=digest_id).update(attempts=F("attempts") + 1, error=str(error)[:500])
        logger.warning("exceptions: email digest %s not sent: %s", digest_id, error)
        return False
    return True
