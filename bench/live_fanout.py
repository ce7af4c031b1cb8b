"""The baseline of `bench/live.py`: the plain design the hub replaces — one channel-layer
`group_send` per event to every connected browser, no coalescing, no audiences.

- `application`: the product's ASGI app plus `/ws/bench-fanout/`, a consumer that joins one
  group and forwards every message whose plant or supplier the user may see (the same scope
  rule as the page, applied per socket).
- the worker's side is `bench/live_fanout_worker.py`.

Started only by the benchmark: `uvicorn bench.live_fanout:application`.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.db import database_sync_to_async  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from bench.live_fanout_worker import GROUP  # noqa: E402
from controltower.asgi import django_asgi_app  # noqa: E402
from controltower.web.routing import websocket_urlpatterns  # noqa: E402


class FanoutConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        from controltower.accounts.access import access_for

        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.scope_of_user = (await database_sync_to_async(access_for)(user)).scope
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def bench_row(self, message: dict) -> None:
        scope = self.scope_of_user
        if scope.allows(plant_id=message["plant"], supplier_id=message["supplier"]):
            await self.send(text_data=message["html"])


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter([path("ws/bench-fanout/", FanoutConsumer.as_asgi()), *websocket_urlpatterns])
            )
        ),
    }
)
