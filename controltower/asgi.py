"""ASGI entry point: HTTP through Django, websockets through Channels with session auth."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")
# Sync views run on a thread per request here, each with its own connection: the psycopg pool
# bounds them (settings: DATABASE_POOL). On by default for this entry point only, and only while
# the settings are read, so processes this one starts do not inherit the default.
_pool_by_default = "DATABASE_POOL" not in os.environ
if _pool_by_default:
    os.environ["DATABASE_POOL"] = "1"
try:
    django_asgi_app = get_asgi_application()
finally:
    if _pool_by_default:
        del os.environ["DATABASE_POOL"]

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from controltower.web.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
