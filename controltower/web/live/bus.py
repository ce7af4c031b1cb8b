"""Carrying committed changes from any process to every web process (see the package docstring).

Publishing is fire-and-forget on a background thread: the business code that announced a change
has committed already and must never wait for, or fail on, the broker. A change lost to a broker
outage costs a live page one update; the page catches up at its next change or reconnect.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from kombu import Connection, Exchange, Queue

from controltower import broker
from controltower.changes import Change

logger = logging.getLogger(__name__)

EXCHANGE = Exchange("ct.live", type="fanout", durable=False, delivery_mode="transient")
#: How long a publisher gathers changes into one message: bounds messages per process per second.
BATCH_SECONDS = 0.05


class _Publisher:
    """One per process (re-created after a fork): a queue drained by a daemon thread."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.inbox: queue.SimpleQueue[list[Change]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="live-bus-publisher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        connection = None
        while True:
            batch: dict[Change, None] = dict.fromkeys(self.inbox.get())
            deadline = time.monotonic() + BATCH_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                try:
                    batch.update(dict.fromkeys(self.inbox.get(timeout=left)))
                except queue.Empty:
                    break
            try:
                if connection is None:
                    connection = broker_connection()
                connection.ensure_connection(max_retries=1)
                with connection.Producer() as producer:
                    producer.publish(
                        {"changes": [change.as_json() for change in batch]},
                        exchange=EXCHANGE,
                        routing_key="",
                        serializer="json",
                        declare=[EXCHANGE],
                        retry=False,
                    )
            except Exception:  # noqa: BLE001 — the broker is down: this batch's update is lost
                logger.warning("live: %d change(s) not published", len(batch), exc_info=True)
                if connection is not None:
                    connection.release()
                connection = None


_publisher: _Publisher | None = None
_lock = threading.Lock()


def publish_changes(sender=None, *, changes: list[Change], **kwargs) -> None:
    """The `controltower.changes.changed` receiver: hand the changes to this process's publisher."""
    global _publisher
    if not changes:
        return
    with _lock:
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = _Publisher()
    _publisher.inbox.put(changes)


def broker_connection() -> Connection:
    broker.register()
    if settings.CELERY_BROKER_URL.startswith("ctfs://"):
        settings.CELERY_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    return Connection(
        settings.CELERY_BROKER_URL,
        transport_options=dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS),
        connect_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,
    )


def listen(
    on_changes: Callable[[list[Change]], None],
    stop: threading.Event,
    subscribed: threading.Event | None = None,
) -> None:
    """Call `on_changes` with each batch published by any process until `stop` is set; reconnects
    after a broker outage. `subscribed` is set while the subscription stands (changes published
    before it are not heard). Runs on a thread of its own (kombu is synchronous)."""
    subscribed = subscribed or threading.Event()
    # Unique per subscription: a thread's ident is reused once it ends, and a hub of a later
    # event loop must not share (and, unsubscribing, take down) an earlier one's queue.
    name = f"ct.live.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
    subscription = Queue(name, exchange=EXCHANGE, routing_key="", durable=False, auto_delete=True)

    def deliver(body, message) -> None:
        try:
            on_changes([Change.from_json(item) for item in body.get("changes", ())])
        except Exception:  # noqa: BLE001 — one bad message must not end the subscription
            logger.warning("live: a change message could not be read", exc_info=True)

    while not stop.is_set():
        try:
            with broker_connection() as connection:
                with connection.Consumer(subscription, callbacks=[deliver], accept=["json"], no_ack=True):
                    subscribed.set()
                    while not stop.is_set():
                        try:
                            connection.drain_events(timeout=1)
                        except TimeoutError:
                            continue
        except Exception:  # noqa: BLE001 — broker lost: wait and subscribe again
            subscribed.clear()
            if stop.is_set():
                return
            logger.warning("live: change subscription lost; retrying", exc_info=True)
            stop.wait(1)
