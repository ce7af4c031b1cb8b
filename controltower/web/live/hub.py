"""One hub per web process: audiences, dirty marks, coalesced renders (see the package docstring)."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from channels.db import database_sync_to_async

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


class Hub:
    #: At most one render per audience this often: the latest state, a few times a second.
    TICK = 0.25
    _by_loop: dict[int, Hub] = {}

    @classmethod
    def current(cls) -> Hub:
        loop = asyncio.get_running_loop()
        hub = cls._by_loop.get(id(loop))
        if hub is None or hub.loop is not loop:
            hub = cls._by_loop[id(loop)] = cls(loop)
        return hub

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.audiences: dict[tuple, Audience] = {}
        self.dirty: set[tuple] = set()
        self.renders = 0
        self.stop = threading.Event()
        self.listener = threading.Thread(
            target=bus.listen, args=(self._heard, self.stop), name="live-bus-listener", daemon=True
        )
        self.listener.start()
        self.ticker = loop.create_task(self._tick())

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
        # A socket that (re)connects gets every section it holds: nothing changed meanwhile is lost.
        self.dirty.add(key)
        return key

    def leave(self, socket, key) -> None:
        audience = self.audiences.get(key)
        if audience is None:
            return
        audience.sockets.discard(socket)
        if not audience.sockets:
            del self.audiences[key]
            self.dirty.discard(key)

    # --- changes -----------------------------------------------------------------------------
    def _heard(self, changes: list[Change]) -> None:
        """On the bus thread: hand the batch to the event loop."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.mark, changes)

    def mark(self, changes: list[Change]) -> None:
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
                if self.dirty:
                    await self.flush()
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
            except Exception:  # noqa: BLE001 — one failing page must not stop the others
                logger.exception("live: rendering %s failed", audience.path)
                continue
            self.renders += 1
            if not html:
                continue
            for socket in list(audience.sockets):
                try:
                    await socket.push(html)
                except Exception:  # noqa: BLE001 — a socket closing meanwhile
                    logger.debug("live: push to a closing socket failed", exc_info=True)
