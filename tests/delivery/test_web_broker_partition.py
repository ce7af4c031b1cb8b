"""A web process that lost the broker while the worker stayed connected recovers by itself.

The worker never noticed the outage, so its reconnect sweeps never run; no beat runs either.
Only the web process knows that the deliveries and correlations of the events it stored could not
be queued: its first publish that succeeds again must queue the sweeps at once.
"""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from controltower.traces.models import CorrelatedEvent
from integrations.delivery.models import Delivery
from integrations.models import Event
from integrations.sandbox.services import sandbox_receiver_upsert
from tests.conftest import free_port, start_asgi_server, start_celery_worker, wait_for
from tests.factories import po_released

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


class CuttableRelay:
    """A TCP relay from a port of its own to `target_port`: the web process's only way to the
    broker. `cut()` drops every connection and refuses new ones, as a network partition between
    the web node and Redis would; `mend()` lets connections through again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.mend()

    def mend(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        listener.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def test_a_web_process_that_lost_the_broker_queues_the_stalled_work_once_a_publish_succeeds(
    network, make_target, subscribe, private_redis, tmp_path
):
    redis_port = int(private_redis.url.rsplit(":", 1)[1].split("/")[0])
    relay = CuttableRelay(redis_port)
    web, base_url = start_asgi_server(
        tmp_path, REDIS_URL=private_redis.url, CELERY_BROKER_URL=f"redis://127.0.0.1:{relay.port}/0"
    )
    worker = start_celery_worker(tmp_path, purge=False, REDIS_URL=private_redis.url)
    try:
        sandbox_receiver_upsert(code="erp", error_rate=0.0)
        target = make_target("erp-post", url=f"{base_url}/sandbox/erp/", max_attempts=5, backoff_seconds=0.2)
        subscribe(target, "purchase_order.released")

        def post(n: int) -> None:
            response = httpx.post(
                f"{base_url}/api/v1/events",
                json=po_released(po=f"45000{n:05d}", event_id=f"evt-partition-{n}"),
                headers={**network["erp"].headers, "Content-Type": "application/cloudevents+json"},
                timeout=30,
            )
            assert response.status_code in (200, 201, 202), response.text

        relay.cut()
        post(1)
        post(2)
        assert Delivery.objects.filter(status="pending").count() == 2  # stored, but not queued

        relay.mend()
        post(3)  # its publish succeeds: the web process now queues the sweeps for 1 and 2
        wait_for(
            lambda: Delivery.objects.filter(status="delivered").count() == 3,
            timeout=30,
            interval=0.25,
            what=f"all three deliveries without a periodic sweep\n{web.output()[-3000:]}",
        )
        wait_for(
            lambda: CorrelatedEvent.objects.count() == Event.objects.count() == 3,
            timeout=30,
            interval=0.25,
            what="all three events correlated without a periodic sweep",
        )
        assert "could not queue" in web.output()  # the outage was real, and seen by the web
        assert "could not queue" not in worker.output()  # ... and not by the worker
    finally:
        worker.stop()
        web.stop()
        relay.cut()
