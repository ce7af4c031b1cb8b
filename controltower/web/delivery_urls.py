"""Pages of routing and delivery (deliveries, dead letters, replay jobs, targets)."""

from __future__ import annotations

from django.urls import path

from controltower.web import delivery_views, replay_views

urlpatterns: list = [
    path("deliveries/", delivery_views.deliveries, name="deliveries"),
    path("deliveries/<int:pk>/", delivery_views.delivery, name="delivery"),
    path("deliveries/<int:pk>/retry/", delivery_views.delivery_retry_view, name="delivery-retry"),
    path("dead-letters/", replay_views.dead_letters, name="dead-letters"),
    path("replays/", replay_views.replays, name="replays"),
    path("replays/start/", replay_views.replay_start_view, name="replay-start"),
    path("replays/<int:pk>/", replay_views.replay, name="replay"),
    path("replays/<int:pk>/cancel/", replay_views.replay_cancel_view, name="replay-cancel"),
    path("replays/<int:pk>/verify/", replay_views.replay_verify_view, name="replay-verify"),
    path("targets/", delivery_views.targets, name="targets"),
    path("targets/<int:pk>/pause/", delivery_views.target_pause_view, name="target-pause"),
    path("targets/<int:pk>/resume/", delivery_views.target_resume_view, name="target-resume"),
]
