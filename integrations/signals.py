"""What `integrations` announces. Other apps (exception queues) react; we import none of them.

- `message_rejected(sender, rejected: RejectedMessage)`: a message was refused and kept.
- `events_accepted(sender, event_ids: list[int])`: events were stored (sent after commit).
- `delivery_dead_lettered(sender, delivery_id: int)`: a delivery gave up (sent after commit);
  exception queues open or update a case from it.
"""

from django.dispatch import Signal

message_rejected = Signal()
events_accepted = Signal()
delivery_dead_lettered = Signal()
