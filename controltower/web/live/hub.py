"""One hub per web process: audiences, dirty marks, coalesced renders (see the package docstring)."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.db import InterfaceError, OperationalError

from controltower.changes import Change
from controltower.web.live import bus
from controltower.web.live.pages import LivePage
from controltower.web.live.render import render_sections

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Audience:
    """Sockets that would see the very same sections: rendered once, sent to each."""

    page: LivePage
    url_kwargs: dict
    path: str
    user: object
    access: object
    zone: object
    host: str
    sockets: set = field(default_factory=set)


class Outbox:
    """What is still to be sent to one socket: only the latest HTML (latest state wins), sent by
    a task of its own, so a slow or dead browser holds up nobody but itself."""

    def __init__(self, hub: Hub, socket) -> None:
        self.hub, self.socket = hub, socket
        self.latest: str | None = None
        self.task: asyncio.Task | None = None

    def put(self, html: str) -> None:
        self.latest = html
        if self.task is None or self.task.done():
            self.task = self.hub.loop.create_task(self._send())

    def close(self) -> None:
        self.latest = None
        if self.task is not None and not self.task.done() and self.task is not asyncio.current_task():
            self.task.cancel()

    async def _send(self) -> None:
        while self.latest is not None:
            html, self.latest = self.latest, None
            try:
                await asyncio.wait_for(self.socket.push(html), timeout=self.hub.PUSH_TIMEOUT)
            except TimeoutError:
                # The browser does not read (gone, asleep, far too slow): stop feeding it. If it
                # is alive it reconnects, and joining sends it every section afresh.
                logger.info(
                    "live: a socket took over %.0f s to take an update; dropped", self.hub.PUSH_TIMEOUT
                )
                self.hub.drop(self.socket)
                return
            except Exception:  # noqa: BLE001 — a socket closing meanwhile
                logger.debug("live: push to a closing socket failed", exc_info=True)
                return
            self.hub.pushes += 1


class Hub:
    #: At most one render per audience this often: the latest state, a few times a second.
    TICK = 0.25
    #: A socket that has not taken one update in this long is dropped (see `Outbox`).
    PUSH_TIMEOUT = 10.0
    _by_loop: dict[int, Hub] = {}

    @classmethod
    def current(cls) -> Hub:
        loop = asyncio.get_running_loop()
        hub = cls._by_loop.get(id(loop))
        if hub is None or hub.loop is not loop:
            hub = cls._by_loop[id(loop)] = cls(loop)
        hub._keep_listening()
        return hub

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.audiences: dict[tuple, Audience] = {}
        self.joined: dict[object, tuple] = {}
        self.outboxes: dict[object, Outbox] = {}
        self.dirty: set[tuple] = set()
        #: Counters, for tests and benchmarks: change batches heard from the bus, audience renders,
        #: and HTML messages sent.
        self.heard = 0
        self.renders = 0
        self.pushes = 0
        self.stop = threading.Event()
        self.subscribed = threading.Event()  # set while the listener's subscription stands
        self.listener: threading.Thread | None = None
        self._keep_listening()
        self.ticker = loop.create_task(self._tick())

    def _keep_listening(self) -> None:
        """Start the bus listener, or start it again should it ever have died: a page left open
        for days must not go quiet because one thread ended."""
        if self.stop.is_set() or (self.listener is not None and self.listener.is_alive()):
            return
        if self.listener is not None:
            logger.error("live: the change listener had stopped; starting it again")
        self.listener = threading.Thread(
            target=bus.listen,
            args=(self._heard, self.stop, self.subscribed),
            name="live-bus-listener",
            daemon=True,
        )
        self.listener.start()

    # --- sockets -----------------------------------------------------------------------------
    def join(self, socket, *, page: LivePage, url_kwargs: dict, path: str, user, access, zone, host: str):
        scope = access.scope
        key = (
            path,
            host,
            str(zone),
            tuple(sorted(access.capabilities)),
            scope.everything,
            tuple(sorted(scope.plant_ids)),
            tuple(sorted(scope.supplier_ids)),
            user.pk if page.per_user else None,
        )
        audience = self.audiences.get(key)
        if audience is None:
            audience = self.audiences[key] = Audience(page, url_kwargs, path, user, access, zone, host)
        audience.sockets.add(socket)
        self.joined[socket] = key
        self.outboxes.setdefault(socket, Outbox(self, socket))
        # A socket that (re)connects gets every section it holds: nothing changed meanwhile is lost.
        self.dirty.add(key)
        return key

    def leave(self, socket, key) -> None:
        if self.joined.get(socket) == key:
            del self.joined[socket]
            outbox = self.outboxes.pop(socket, None)
            if outbox is not None:  # what was rendered for the page it held is not wanted now
                outbox.close()
        audience = self.audiences.get(key)
        if audience is None:
            return
        audience.sockets.discard(socket)
        if not audience.sockets:
            del self.audiences[key]
            self.dirty.discard(key)

    def drop(self, socket) -> None:
        """Stop sending to `socket` and ask it to close (it did not take an update in time)."""
        key = self.joined.get(socket)
        if key is not None:
            self.leave(socket, key)
        close = getattr(socket, "drop", None)
        if close is not None:
            self.loop.create_task(close())

    # --- changes -----------------------------------------------------------------------------
    def _heard(self, changes: list[Change]) -> None:
        """On the bus thread: hand the batch to the event loop."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.mark, changes)

    def mark(self, changes: list[Change]) -> None:
        self.heard += 1
        for key, audience in self.audiences.items():
            if key in self.dirty:
                continue
            scope = audience.access.scope
            for change in changes:
                if change.visible_to(scope) and audience.page.wants(change, audience.url_kwargs):
                    self.dirty.add(key)
                    break

    async def _tick(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.TICK)
                if not self.dirty:
                    continue
                try:
                    await self.flush()
                except Exception:  # noqa: BLE001 — the ticker must outlive any one bad tick
                    logger.exception("live: a tick failed")
        finally:  # the loop is closing (server shutdown, end of a test): stop listening too
            self.stop.set()

    async def flush(self) -> None:
        keys, self.dirty = self.dirty, set()
        for key in keys:
            audience = self.audiences.get(key)
            if audience is None:
                continue
            try:
                html = await database_sync_to_async(render_sections)(
                    user=audience.user,
                    path=audience.path,
                    page=audience.page,
                    zone=audience.zone,
                    host=audience.host,
                )
            except (OperationalError, InterfaceError):
                # The database is away (restarting, failing over): render again next tick, so
                # the page shows the state once it is back instead of staying stale.
                logger.warning("live: rendering %s failed; will retry", audience.path, exc_info=True)
                self.dirty.add(key)
                continue
            except Exception:  # noqa: BLE001 — one failing page must not stop the others
                logger.exception("live: rendering %s failed", audience.path)
                continue
            self.renders += 1
            if not html:
                continue
            for socket in audience.sockets:
                outbox = self.outboxes.get(socket)
                if outbox is not None:
                    outbox.put(html)
