"""The embedded Celery broker: kombu's filesystem transport, made safe to run for hours.

kombu's own filesystem transport (kombu issue #1551) creates a message file under its final
name and only then writes it, so a worker polling the folder can move and read the file while
it is still empty and die on `JSONDecodeError`. It also claims a message by moving it to the
system temporary folder, which copies when that is another filesystem (two workers may then
both read it) and loses the message if the worker dies before it ran the task.

This transport (broker URL `ctfs://`, registered by `register()`) keeps kombu's folder layout
and exchange tables and changes the three steps that went wrong:

- **publish**: the message is written under a temporary name in `staging/` and renamed into the
  queue folder; a rename within one filesystem is atomic, so a reader sees no file or a whole one.
- **claim**: a reader renames the file into its own `claimed/<pid>-<start time>/` folder (atomic:
  one reader wins), and deletes it only when the task is acknowledged. A message of a worker
  that died unacknowledged is put back in its queue by the next consumer that polls.
- **read**: a file that cannot be decoded is moved to `quarantine/` and logged; the worker goes
  on with the next message instead of dying.

It also gives auto-delete queues the lifetime AMQP gives them, which kombu's transport does not:
a fanout exchange copies each message into every queue bound in its table, and every web
process binds a queue of its own (the live bus), as does each Celery worker (its pidbox). Such a
queue is now unbound and emptied when its consumer cancels, and, for a process that died without
cancelling, by the next process that publishes to a fanout exchange or declares a queue (the
declaring process is written down in `control/owners/`). Without that, every `make run` left a
binding that received a copy of every live change, on disk, forever.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path

from kombu.transport import TRANSPORT_ALIASES, filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

SCHEME = "ctfs"
STAGING = "staging"
CLAIMED = "claimed"
QUARANTINE = "quarantine"
OWNERS = "owners"  # in the control folder: the process that declared each auto-delete queue
# How often a consumer looks for messages claimed by workers that have died.
ORPHAN_SCAN_SECONDS = 10.0
ACK_POLL_SECONDS = 0.002


def register() -> None:
    """Make `ctfs://` name this transport for kombu (and so for Celery's `broker_url`)."""
    TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (Linux), so a reused pid is not taken for the old process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _claimer_name(pid: int) -> str:
    return f"{pid}-{_start_time(pid) or 'x'}"


def _claimer_alive(name: str) -> bool:
    pid_text, _, started = name.partition("-")
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # someone else's live process
        return True
    return started == "x" or _start_time(pid) == started


class QoS(virtual.QoS):
    """kombu's in-memory bookkeeping of unacknowledged messages, plus their claimed files."""

    def ack(self, delivery_tag):
        super().ack(delivery_tag)
        self.channel._release(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        # A requeue puts a copy back in the queue (kombu's `_restore`), which releases the file.
        super().reject(delivery_tag, requeue=requeue)
        self.channel._release(delivery_tag)


class Channel(filesystem.Channel):
    """Atomic publish, atomic claim, claimed files kept until acknowledged, bad files set aside."""

    QoS = QoS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._claimed: dict[str, Path] = {}
        self._no_ack_queues: set[str] = set()
        self._next_orphan_scan = 0.0
        self._claims_folder: tuple[int, Path] | None = None
        self._empty_since: dict[str, int] = {}
        self._owned: set[str] = set()
        self._next_queue_scan = 0.0

    # --- folders -------------------------------------------------------------------------------
    @property
    def _queue_folder(self) -> Path:
        return Path(self.data_folder_in)

    def _subfolder(self, name: str) -> Path:
        folder = Path(self.data_folder_out) / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _my_claims(self) -> Path:
        # Keyed by pid: a forked child that consumed must not share its parent's folder.
        pid = os.getpid()
        if self._claims_folder is None or self._claims_folder[0] != pid:
            folder = self._subfolder(CLAIMED) / _claimer_name(pid)
            folder.mkdir(exist_ok=True)
            self._claims_folder = (pid, folder)
        return self._claims_folder[1]

    # --- publish -------------------------------------------------------------------------------
    def _put(self, queue, payload, **kwargs):
        """Write `payload` whole under a name the queue does not match, then rename it in."""
        name = f"{int(round(time.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        staged = self._subfolder(STAGING) / name
        try:
            with open(staged, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(staged, Path(self.data_folder_out) / name)
        except OSError as exc:
            staged.unlink(missing_ok=True)
            raise filesystem.ChannelError(f"Cannot add message {name!r} to {queue!r}") from exc

    def _put_fanout(self, exchange, payload, routing_key, **kwargs):
        self.queues_prune_dead()
        super()._put_fanout(exchange, payload, routing_key, **kwargs)

    # --- auto-delete queues: bound for as long as their process lives ----------------------------
    def queue_declare(self, queue=None, passive=False, **kwargs):
        ok = super().queue_declare(queue=queue, passive=passive, **kwargs)
        if kwargs.get("auto_delete") and not passive:
            owners = self.control_folder / OWNERS
            owners.mkdir(parents=True, exist_ok=True)
            (owners / ok.queue).write_text(_claimer_name(os.getpid()))
            self._owned.add(ok.queue)
            self.queues_prune_dead()
        return ok

    def basic_cancel(self, consumer_tag):
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        if queue in self._owned and queue not in self._tag_to_queue.values():
            self._owned.discard(queue)
            self._queue_forget(queue)

    def queues_prune_dead(self, *, force: bool = False) -> list[str]:
        """Unbind and empty the auto-delete queues whose declaring process is gone (at most once
        every `ORPHAN_SCAN_SECONDS` unless `force`); returns their names."""
        now = time.monotonic()
        if not force and now < self._next_queue_scan:
            return []
        self._next_queue_scan = now + ORPHAN_SCAN_SECONDS
        owners = self.control_folder / OWNERS
        try:
            names = os.listdir(owners)
        except FileNotFoundError:
            return []
        dead = [name for name in names if not _claimer_alive(self._owner_of(name) or "")]
        for name in dead:
            self._queue_forget(name, only_if_dead=True)
        if dead:
            logger.info("broker: removed %d queue(s) of processes that are gone: %s", len(dead), dead)
        return dead

    def _owner_of(self, queue: str) -> str | None:
        try:
            return (self.control_folder / OWNERS / queue).read_text().strip()
        except OSError:
            return None

    def _queue_forget(self, queue: str, *, only_if_dead: bool = False) -> None:
        """Take `queue` out of every exchange table, delete its messages and its owner note. With
        `only_if_dead`, a queue declared again meanwhile by a living process is left alone (the
        owner is read again under each table's lock, and declaring writes it before binding)."""
        for table in self.control_folder.glob("*.exchange"):
            try:
                handle = table.open("rb+", buffering=0)
            except FileNotFoundError:
                continue
            with handle:
                filesystem.lock(handle, filesystem.LOCK_EX)
                try:
                    if only_if_dead and _claimer_alive(self._owner_of(queue) or ""):
                        return
                    rows = [filesystem.exchange_queue_t(*row) for row in loads(bytes_to_str(handle.read()))]
                    kept = [row for row in rows if row.queue != queue]
                    if len(kept) != len(rows):
                        handle.seek(0)
                        handle.write(str_to_bytes(dumps(kept)))
                        handle.truncate()
                finally:
                    filesystem.unlock(handle)
        self._purge(queue)
        (self.control_folder / OWNERS / queue).unlink(missing_ok=True)

    # --- consume -------------------------------------------------------------------------------
    def basic_consume(self, queue, no_ack, callback, consumer_tag, **kwargs):
        if no_ack:
            self._no_ack_queues.add(queue)
        return super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)

    def basic_get(self, queue, no_ack=False, **kwargs):
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if no_ack and message is not None:  # nothing will acknowledge it: done with the file
            self._release(message.delivery_tag)
        return message

    def drain_events(self, timeout=None, callback=None):
        # Waiting for an acknowledgement (prefetch reached) is not an empty folder: the
        # transport then polls again almost at once instead of a whole interval later.
        self.connection.awaiting_ack = bool(self._consumers) and not self.qos.can_consume()
        return super().drain_events(timeout=timeout, callback=callback)

    def _get(self, queue):
        """Claim and return the oldest whole message of `queue`; raise `Empty` if none."""
        self._restore_orphans()
        # Any file renamed into the folder changes its mtime: while it stays as it was when the
        # queue was last found empty, skip listing it. This is what lets us poll every few
        # milliseconds (a worker waits one poll after each task) at next to no cost.
        changed = os.stat(self._queue_folder).st_mtime_ns
        if self._empty_since.get(queue) == changed:
            raise filesystem.Empty()
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self._queue_folder)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = self._my_claims() / name
            try:
                os.rename(self._queue_folder / name, claimed)
            except FileNotFoundError:  # another consumer claimed it first
                continue
            try:
                payload = loads(bytes_to_str(claimed.read_bytes()))
                tag = payload["properties"]["delivery_tag"]
            except (OSError, ValueError, TypeError, KeyError) as exc:
                self._quarantine(claimed, reason=exc)
                continue
            if queue in self._no_ack_queues:
                claimed.unlink(missing_ok=True)
            else:
                self._claimed[tag] = claimed
            return payload
        self._empty_since[queue] = changed
        raise filesystem.Empty()

    def _restore(self, message):
        """Put an unacknowledged message back in its queue (kombu calls this at shutdown and
        on a requeue), then drop the claimed file so it is not restored a second time."""
        super()._restore(message)
        self._release(message.delivery_tag)

    def _release(self, delivery_tag) -> None:
        claimed = self._claimed.pop(delivery_tag, None)
        if claimed is not None:
            claimed.unlink(missing_ok=True)

    def _quarantine(self, path: Path, *, reason: Exception) -> None:
        target = self._subfolder(QUARANTINE) / path.name
        try:
            os.replace(path, target)
        except OSError:
            target = path
        logger.error(
            "broker: message file %s could not be read (%s: %s); moved to %s, worker goes on",
            path.name,
            type(reason).__name__,
            reason,
            target,
        )

    def _restore_orphans(self) -> None:
        """Move messages claimed by dead processes back into their queues (at least once: a
        worker that died mid-task has not acknowledged it, so the task runs again)."""
        now = time.monotonic()
        if now < self._next_orphan_scan:
            return
        self._next_orphan_scan = now + ORPHAN_SCAN_SECONDS
        root = self._subfolder(CLAIMED)
        for claimer in os.scandir(root):
            if not claimer.is_dir() or _claimer_alive(claimer.name):
                continue
            restored = 0
            for entry in os.scandir(claimer.path):
                try:
                    os.replace(entry.path, self._queue_folder / entry.name)
                    restored += 1
                except OSError:
                    continue
            try:
                os.rmdir(claimer.path)
            except OSError:
                pass
            if restored:
                logger.warning(
                    "broker: put back %d unacknowledged message(s) of dead process %s",
                    restored,
                    claimer.name,
                )


class Transport(filesystem.Transport):
    Channel = Channel
    driver_type = SCHEME
    driver_name = SCHEME
    awaiting_ack = False

    def drain_events(self, connection, timeout=None):
        """kombu's loop, sleeping a millisecond instead of the polling interval while a
        channel only waits for its worker to acknowledge a task."""
        started = time.monotonic()
        while True:
            self.awaiting_ack = False
            try:
                self.cycle.get(self._deliver, timeout=timeout)
            except filesystem.Empty:
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise TimeoutError() from None
                interval = self.polling_interval or 0
                if timeout:
                    interval = min(interval, timeout)
                time.sleep(ACK_POLL_SECONDS if self.awaiting_ack else interval)
            else:
                return
