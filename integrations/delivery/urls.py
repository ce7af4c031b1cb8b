"""API routes of the delivery app, spliced into /api/v1/."""

from __future__ import annotations

api_urlpatterns: list = []
