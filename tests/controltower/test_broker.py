"""The embedded broker (`ctfs://`, controltower/broker.py): no half-written message reaches a
worker, no unreadable file kills it, no claimed message is lost with a dead consumer, and
several producer processes feed a real worker thousands of tasks, each run exactly once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from kombu import Connection

from controltower import broker
from tests.conftest import ROOT, start_celery_worker, wait_for

QUEUE = "race"
BIG_BODY = "x" * 1_000_000
# How long the writer takes to serialise a message: the window in which kombu's transport has
# already created the message file, empty, in the queue folder. Made long on purpose (below) so
# the reader's polls land in it on every run, however fast or busy the machine.
SERIALISE_SECONDS = 0.5


def _connection(url: str, folder: Path) -> Connection:
    broker.register()
    return Connection(
        url,
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        },
    )


@pytest.fixture
def slow_serialising(monkeypatch):
    """Both transports serialise with kombu's `dumps`: make it slow, so the race is certain."""
    from kombu.transport import filesystem
    from kombu.utils.json import dumps

    def slow_dumps(payload):
        text = dumps(payload)
        time.sleep(SERIALISE_SECONDS)
        return text

    monkeypatch.setattr(filesystem, "dumps", slow_dumps)
    monkeypatch.setattr(broker, "dumps", slow_dumps)


def _race(url: str, folder: Path) -> list[object]:
    """A writer publishes one message, slowly serialised, while a reader polls the queue as fast
    as it can; returns what the reader got (message bodies, or the exception that stopped it)."""
    got: list[object] = []
    writing = threading.Event()
    with _connection(url, folder) as writer_conn, _connection(url, folder) as reader_conn:
        writer, reader = writer_conn.default_channel, reader_conn.default_channel
        reader.queue_declare(QUEUE)

        def write() -> None:
            writing.set()
            writer.basic_publish(writer.prepare_message(BIG_BODY), "", QUEUE)

        thread = threading.Thread(target=write)
        thread.start()
        writing.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not got:
            try:
                message = reader.basic_get(QUEUE, no_ack=True)
            except Exception as exc:  # noqa: BLE001 — the race shows itself as any read failure
                got.append(exc)
                break
            if message is not None:
                got.append(message.body)
        thread.join()
    return got


def test_kombus_filesystem_transport_hands_a_reader_a_half_written_message(tmp_path, slow_serialising):
    """The defect (kombu #1551) this broker exists for: shown here so the next test is known to
    exercise the race, not to pass by luck."""
    got = _race("filesystem://", tmp_path)
    assert got and not isinstance(got[0], bytes), "kombu's transport read the message whole"
    assert "Expecting value" in str(got[0]) or "Cannot read" in str(got[0])


def test_reader_polling_during_a_slow_write_gets_the_whole_message(tmp_path, slow_serialising):
    got = _race("ctfs://", tmp_path)
    assert len(got) == 1
    assert got[0] == BIG_BODY.encode()
    assert not list((tmp_path / broker.STAGING).iterdir())
    assert not list((tmp_path / broker.CLAIMED).glob("*/*")), "a no-ack get keeps no file"


def test_unreadable_message_file_is_quarantined_and_the_next_one_delivered(tmp_path, caplog):
    with _connection("ctfs://", tmp_path) as conn:
        channel = conn.default_channel
        channel.queue_declare(QUEUE)
        (tmp_path / f"0_garbage.{QUEUE}.msg").write_bytes(b"{not json")
        channel.basic_publish(channel.prepare_message("fine"), "", QUEUE)
        with caplog.at_level("ERROR", logger="controltower.broker"):
            message = channel.basic_get(QUEUE)
        assert message.body == b"fine"
        message.ack()
    assert [p.name for p in (tmp_path / broker.QUARANTINE).iterdir()] == [f"0_garbage.{QUEUE}.msg"]
    assert "could not be read" in caplog.text and "worker goes on" in caplog.text
    assert not list((tmp_path / broker.CLAIMED).glob("*/*")), "the acked message's file is gone"


CLAIM_AND_DIE = """
import os, signal, sys
sys.path.insert(0, {root!r})
from kombu import Connection
from controltower import broker
broker.register()
folder = {folder!r}
options = dict(data_folder_in=folder, data_folder_out=folder, control_folder=folder + "/control")
channel = Connection("ctfs://", transport_options=options).default_channel
assert channel.basic_get({queue!r}).body == b"survives"
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_message_claimed_by_a_consumer_that_died_unacknowledged_is_delivered_again(tmp_path):
    with _connection("ctfs://", tmp_path) as conn:
        channel = conn.default_channel
        channel.queue_declare(QUEUE)
        channel.basic_publish(channel.prepare_message("survives"), "", QUEUE)
    # A consumer process claims the message and dies (SIGKILL: no shutdown, no restore).
    script = CLAIM_AND_DIE.format(root=str(ROOT), folder=str(tmp_path), queue=QUEUE)
    died = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=60)
    assert died.returncode == -9, died.stderr.decode()
    assert list((tmp_path / broker.CLAIMED).glob("*/*.msg")), "the dead consumer held the message"

    with _connection("ctfs://", tmp_path) as conn:
        message = conn.default_channel.basic_get(QUEUE)
        assert message is not None and message.body == b"survives"
        message.ack()
    assert not list((tmp_path / broker.CLAIMED).glob("*/*.msg"))


PRODUCERS = 3
TASKS_PER_PRODUCER = 1_000
PRODUCER = """
import django, os, sys
sys.path.insert(0, {root!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()
from controltower.celery import app
with app.producer_or_acquire() as producer:
    for i in range({count}):
        app.send_task("celery.accumulate", args=(i,), task_id="p{n}-%d" % i, producer=producer)
"""


@pytest.mark.worker
def test_three_producer_processes_feed_a_real_worker_every_task_exactly_once(transactional_db, tmp_path):
    env = {"CELERY_BROKER_URL": "ctfs://", "CONTROLTOWER_DATA_DIR": str(tmp_path / "data")}
    worker = start_celery_worker(tmp_path, purge=False, **env)
    try:
        child_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        producers = [
            subprocess.Popen(
                [sys.executable, "-c", PRODUCER.format(root=str(ROOT), count=TASKS_PER_PRODUCER, n=n)],
                cwd=ROOT,
                env=child_env,
            )
            for n in range(PRODUCERS)
        ]
        for producer in producers:
            assert producer.wait(timeout=120) == 0
        total = PRODUCERS * TASKS_PER_PRODUCER
        pattern = re.compile(r"Task celery\.accumulate\[(p\d+-\d+)\] succeeded")

        def runs() -> Counter:
            return Counter(pattern.findall(worker.output()))

        wait_for(lambda: len(runs()) >= total, timeout=120, interval=1, what="every task to run")
        time.sleep(1)  # a duplicate would show up right behind
        counted = runs()
        assert worker.proc.poll() is None, worker.output()[-3000:]
        assert len(counted) == total
        assert set(counted.values()) == {1}, [k for k, v in counted.items() if v > 1][:10]
        assert "Unrecoverable error" not in worker.output()
    finally:
        worker.stop()
