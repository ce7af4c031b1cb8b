"""The embedded broker's fanout (`ctfs://`): a queue lives only as long as the process that
declared it auto-delete, so the live bus of web processes long gone stops receiving copies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kombu import Connection, Exchange, Queue

from controltower import broker
from tests.conftest import ROOT

EXCHANGE = Exchange("ct.live", type="fanout", durable=False, delivery_mode="transient")


def options(folder: Path) -> dict:
    return {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


def connection(folder: Path) -> Connection:
    broker.register()
    return Connection("ctfs://", transport_options=options(folder))


def bound(folder: Path) -> list[str]:
    with connection(folder) as conn:
        return [row.queue for row in conn.default_channel.get_table(EXCHANGE.name)]


def messages_of(folder: Path, queue: str) -> list[Path]:
    return [path for path in folder.glob("*.msg") if path.name.partition(".")[2] == f"{queue}.msg"]


def publish(folder: Path, body: str) -> None:
    with connection(folder) as conn, conn.Producer() as producer:
        producer.publish(body, exchange=EXCHANGE, routing_key="", declare=[EXCHANGE], serializer="json")


SUBSCRIBE_AND_DIE = """
import os, signal, sys
sys.path.insert(0, {root!r})
from kombu import Connection, Exchange, Queue
from controltower import broker
broker.register()
exchange = Exchange("ct.live", type="fanout", durable=False)
conn = Connection("ctfs://", transport_options={options!r})
Queue({queue!r}, exchange=exchange, routing_key="", durable=False, auto_delete=True)(conn.default_channel).declare()
os.kill(os.getpid(), signal.SIGKILL)  # no cancel, no cleanup: a web process that was killed
"""


def test_a_dead_processes_fanout_queue_is_unbound_and_emptied(tmp_path):
    with connection(tmp_path) as conn:
        mine = Queue("ct.live.here", exchange=EXCHANGE, routing_key="", durable=False, auto_delete=True)
        mine(conn.default_channel).declare()
        script = SUBSCRIBE_AND_DIE.format(root=str(ROOT), options=options(tmp_path), queue="ct.live.gone")
        died = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=60)
        assert died.returncode == -9, died.stderr.decode()
        assert sorted(bound(tmp_path)) == ["ct.live.gone", "ct.live.here"]

        publish(tmp_path, "after the death")  # a new publisher looks for dead owners first

        assert bound(tmp_path) == ["ct.live.here"]
        assert not messages_of(tmp_path, "ct.live.gone")
        assert not (tmp_path / "control" / broker.OWNERS / "ct.live.gone").exists()
        message = conn.default_channel.basic_get("ct.live.here", no_ack=True)
        assert message is not None and message.payload == "after the death"  # the living still hear


def test_a_copy_already_written_for_a_dead_queue_is_removed_too(tmp_path):
    script = SUBSCRIBE_AND_DIE.format(root=str(ROOT), options=options(tmp_path), queue="ct.live.gone")
    died = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=60)
    assert died.returncode == -9, died.stderr.decode()
    with connection(tmp_path) as conn:  # a copy written before anyone noticed (e.g. by kombu's own)
        conn.default_channel._put("ct.live.gone", {"body": "stale"})
        assert len(messages_of(tmp_path, "ct.live.gone")) == 1
        assert conn.default_channel.queues_prune_dead(force=True) == ["ct.live.gone"]
    assert not messages_of(tmp_path, "ct.live.gone") and bound(tmp_path) == []


def test_a_queue_whose_consumer_cancels_leaves_the_exchange(tmp_path):
    with connection(tmp_path) as conn:
        queue = Queue("ct.live.leaving", exchange=EXCHANGE, routing_key="", durable=False, auto_delete=True)
        with conn.Consumer(queue, callbacks=[], no_ack=True):
            assert bound(tmp_path) == ["ct.live.leaving"]
        assert bound(tmp_path) == []
    publish(tmp_path, "nobody listens")
    assert not list(tmp_path.glob("*.msg"))


def test_a_durable_queue_outlives_its_declaring_process(tmp_path):
    """Only auto-delete queues go with their process: a task queue keeps its binding."""
    with connection(tmp_path) as conn:
        Queue("tasks", exchange=EXCHANGE, routing_key="")(conn.default_channel).declare()
        assert conn.default_channel.queues_prune_dead(force=True) == []
    publish(tmp_path, "kept")
    assert bound(tmp_path) == ["tasks"] and len(messages_of(tmp_path, "tasks")) == 1


def test_the_live_bus_leaves_no_binding_behind_when_its_listener_stops(tmp_path, settings):
    import threading

    from controltower.web.live import bus

    settings.CELERY_BROKER_URL = "ctfs://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = options(tmp_path)
    stop, subscribed = threading.Event(), threading.Event()
    listener = threading.Thread(target=bus.listen, args=(lambda changes: None, stop, subscribed))
    listener.start()
    try:
        assert subscribed.wait(timeout=10)
        assert len(bound(tmp_path)) == 1
    finally:
        stop.set()
        listener.join(timeout=10)
    assert bound(tmp_path) == []
