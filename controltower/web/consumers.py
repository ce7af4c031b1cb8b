"""The live websocket: pushes re-rendered page sections to signed-in users.

A page connects once (htmx's `ws` extension) to `/ws/live/?page=<its path and query>`. The
consumer checks the user like a page does (signed in, allowed to view), finds which sections of
that page are live (`controltower.web.live.pages`) and joins this process's hub, which re-renders
those sections through the page's own view whenever a change concerns them, coalesced, and pushes
them here; htmx swaps them in by id. When htmx pushes a new URL (filters changed), the page says
so with `{"page": "<path>"}` and the socket follows it.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.middleware.csrf import _mask_cipher_secret

from controltower.accounts.access import access_for
from controltower.accounts.roles import Capability
from controltower.web.live.hub import Hub
from controltower.web.live.render import CSRF_PLACEHOLDER, live_page_for
from controltower.web.timezones import TZ_COOKIE, zone_named

# Close codes in the application range (4000-4999), mirroring HTTP's 401 and 403.
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4408  # did not take an update in time (the hub's PUSH_TIMEOUT); the page reconnects
MAX_PATH = 2000


class LiveConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.hub_key = None
        self.path = None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        self.access = await database_sync_to_async(access_for)(user)
        if not self.access.can(Capability.VIEW):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        cookies = self.scope.get("cookies", {})
        # Sections render in the viewer's zone, as the page around them did.
        self.zone = zone_named(cookies.get(TZ_COOKIE))
        secret = cookies.get(settings.CSRF_COOKIE_NAME, "")
        self.csrf_token = _mask_cipher_secret(secret) if len(secret) == 32 else ""
        headers = dict(self.scope.get("headers", ()))
        self.host = headers.get(b"host", b"localhost").decode("latin-1")
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        await self.follow(query.get("page", ["/"])[0])

    async def follow(self, path: str) -> None:
        """Hold the live sections of the page at `path` (and no other page's)."""
        if path == self.path:
            return
        self.path = path
        hub = Hub.current()
        if self.hub_key is not None:
            hub.leave(self, self.hub_key)
            self.hub_key = None
        if not isinstance(path, str) or len(path) > MAX_PATH:
            return
        found = await database_sync_to_async(live_page_for)(path)
        if found is None:
            return
        page, url_kwargs = found
        self.hub_key = hub.join(
            self,
            page=page,
            url_kwargs=url_kwargs,
            path=path,
            user=self.scope["user"],
            access=self.access,
            zone=self.zone,
            host=self.host,
        )

    async def disconnect(self, code: int) -> None:
        if self.hub_key is not None:
            Hub.current().leave(self, self.hub_key)
            self.hub_key = None

    async def receive(self, text_data=None, bytes_data=None) -> None:
        # The page only ever says which URL it now shows; anything else is ignored, not trusted.
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if isinstance(message, dict) and isinstance(message.get("page"), str):
            await self.follow(message["page"])

    async def push(self, html: str) -> None:
        await self.send(text_data=html.replace(CSRF_PLACEHOLDER, self.csrf_token))

    async def drop(self) -> None:
        """The hub gave up on this browser: close, without waiting on a peer that does not read
        (the server's own ping timeout ends a dead connection anyway)."""
        try:
            await asyncio.wait_for(self.close(code=CLOSE_TOO_SLOW), timeout=1)
        except Exception:  # noqa: BLE001 — already closing, or the peer is gone
            pass
