"""URLs of the sandbox: `receiver_urlpatterns` (mounted at /sandbox/) and `api_urlpatterns`
(inside /api/v1/)."""

from __future__ import annotations

receiver_urlpatterns: list = []
api_urlpatterns: list = []
