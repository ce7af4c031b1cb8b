"""The live websocket: pushes re-rendered page sections to signed-in users.

A browser connects once (htmx's `ws` extension) and joins the `status` group plus the groups of
its scope. Services announce changes with small `{"type", "id"}` messages after commit; this
consumer re-renders the same partial the page uses and sends it as an out-of-band swap. Bursts
are coalesced: at most one render per section every `COALESCE_SECONDS`, carrying the latest state.
"""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.template.loader import render_to_string
from django.utils import timezone

from controltower.accounts.access import access_for
from controltower.accounts.roles import Capability
from controltower.web.timezones import TZ_COOKIE, zone_named

# Close codes in the application range (4000-4999), mirroring HTTP's 401 and 403.
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
COALESCE_SECONDS = 0.5


def _render_status() -> str:
    from controltower.web.views import status_context

    return render_to_string("web/home.html#status", {**status_context(), "oob": True})


class LiveConsumer(AsyncJsonWebsocketConsumer):
    renderers = {"status": _render_status}

    async def connect(self) -> None:
        self.joined: list[str] = []
        self.pending: dict[str, asyncio.Task] = {}
        # Sections render in the viewer's zone, as the page around them did.
        self.zone = zone_named(self.scope.get("cookies", {}).get(TZ_COOKIE))
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        access = await database_sync_to_async(access_for)(user)
        if not access.can(Capability.VIEW):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.joined = ["status", *access.scope.group_names]
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for task in self.pending.values():
            task.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        # The browser only listens; anything it sends is ignored rather than trusted.
        return None

    async def status_changed(self, event: dict) -> None:
        self._schedule("status")

    def _schedule(self, section: str) -> None:
        if section in self.pending and not self.pending[section].done():
            return  # a render is already coming and will carry the latest state
        self.pending[section] = asyncio.ensure_future(self._render_later(section))

    async def _render_later(self, section: str) -> None:
        await asyncio.sleep(COALESCE_SECONDS)
        html = await database_sync_to_async(self._render)(section)
        await self.send(text_data=html)

    def _render(self, section: str) -> str:
        with timezone.override(self.zone):
            return self.renderers[section]()
