"""What `integrations` announces. Other apps (exception queues) react; we import none of them.

- `message_rejected(sender, rejected: RejectedMessage)`: a message was refused and kept.
- `events_accepted(sender, event_ids: list[int])`: events were stored (sent after commit).

A delivery that gives up is announced through the change boundary instead
(`controltower.changes`, `Kind.DEAD_LETTERED` with the delivery's id and scope).
"""

from django.dispatch import Signal

message_rejected = Signal()
events_accepted = Signal()
