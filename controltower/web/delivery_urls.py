"""Pages of routing and delivery (deliveries, dead letters, replay jobs, targets)."""

from __future__ import annotations

urlpatterns: list = []
