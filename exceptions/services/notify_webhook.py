"""A team's webhook digest, sent through the delivery machinery rather than by a sender of our own.

The digest becomes an event of the tower's own (`exception.notification`, source
`controltower`), stored by the one intake service (`events_ingest`) and given an outbox row to
the team's target (`deliveries_route_to`, mapping "data" so the target receives the card
itself). From there it is an ordinary delivery: the delivery workers POST it with its
`Idempotency-Key`, retry it by the target's policy, dead-letter it (which opens a case), and
operators see it, retry it and replay it like any other. The body is a Teams MessageCard whose
`text` Slack's incoming webhooks show as well.

Exactly once: the event's id is the digest's (`digest-<id>`), so storing it again is a
duplicate, and its delivery is unique per (target, event).
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import IntegrityError

from exceptions.models import Digest, Team
from integrations.adapters.cloudevents import parse_structured
from integrations.delivery.models import Subscription
from integrations.delivery.services.routing import RoutedEvent, deliveries_route_to
from integrations.models import Event, SourceSystem
from integrations.services.intake import ACCEPTED, DUPLICATE, Candidate, RequestRecord, events_ingest
from integrations.services.network import system_upsert

TOWER_SYSTEM = "CONTROLTOWER"
TOWER_SOURCE = "controltower"
NOTIFICATION_TYPE = "exception.notification"


class NotificationRefused(Exception):
    """Intake refused the tower's own notification: a defect, never a recipient's fault."""


def tower_system() -> SourceSystem:
    """The control tower as a system of the network: the sender of its own notifications."""
    system = SourceSystem.objects.filter(code=TOWER_SYSTEM).first()
    if system is not None:
        return system
    try:
        return system_upsert(
            code=TOWER_SYSTEM,
            name="Control tower (its own notifications)",
            kind=SourceSystem.Kind.MIDDLEWARE,
            sources=[TOWER_SOURCE],
        )
    except IntegrityError:  # another worker created it at the same moment
        return SourceSystem.objects.get(code=TOWER_SYSTEM)


def card(*, items, subject: str, team_name: str, reference: str, now: datetime) -> dict:
    """The webhook's JSON: a MessageCard (Teams) with Markdown `text` (Slack shows it too)."""
    lines = [
        f"- **{item.severity}** {_event_words(item.event)}: [{item.title}]({item.url})" for item in items
    ]
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": subject[:300],
        "title": subject[:300],
        "text": "\n".join(lines)[:20000],
        "sent_at": now.isoformat(),
        "controltower": {
            "digest": reference,
            "recipient": team_name[:200],
            "cases": [item.as_dict() for item in items],
        },
    }


def _event_words(event: str) -> str:
    from exceptions.services.notify import EVENT_WORDS

    return EVENT_WORDS[event]


def digest_hand_over(*, digest: Digest, items, team: Team | None, now: datetime) -> dict:
    """Store the digest as the tower's event and queue its delivery to the team's webhook
    target, in the caller's transaction; returns the body. Sets `digest.event_id`."""
    reference = f"digest-{digest.pk}"
    body = card(
        items=items,
        subject=digest.subject,
        team_name=str(team) if team else digest.recipient,
        reference=reference,
        now=now,
    )
    if team is None or team.webhook is None:
        digest.error = "the team or its webhook target is gone"
        return body
    raw = {
        "specversion": "1.0",
        "id": reference,
        "source": TOWER_SOURCE,
        "type": NOTIFICATION_TYPE,
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": body,
    }
    encoded = json.dumps(raw).encode()
    parsed = parse_structured(raw)
    [outcome] = events_ingest(
        system=tower_system(),
        candidates=[Candidate(raw=raw, event=parsed.event, errors=parsed.errors)],
        mode=Event.Mode.STRUCTURED,
        request=RequestRecord(
            endpoint="exception notification",
            content_type="application/cloudevents+json",
            headers={},
            body=encoded,
        ),
    )
    if outcome.status not in (ACCEPTED, DUPLICATE):
        raise NotificationRefused(f"intake refused {reference}: {[str(e) for e in outcome.errors]}")
    deliveries_route_to(
        events=[
            RoutedEvent(
                pk=outcome.event_pk,
                source=TOWER_SOURCE,
                event_id=reference,
                type=NOTIFICATION_TYPE,
                plant_id=None,
                supplier_id=None,
            )
        ],
        target=team.webhook,
        mapping=Subscription.Mapping.DATA,
    )
    digest.event_id = outcome.event_pk
    return body
