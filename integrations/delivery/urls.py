"""API routes of the delivery app, spliced into /api/v1/ (namespace `api-v1`)."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from integrations.delivery import apis

router = SimpleRouter(trailing_slash=False)
router.register("subscriptions", apis.SubscriptionViewSet, basename="subscription")

api_urlpatterns = [
    path("deliveries", apis.DeliveryListApi.as_view(), name="deliveries"),
    path("deliveries/<int:pk>", apis.DeliveryDetailApi.as_view(), name="delivery"),
    path("deliveries/<int:pk>/retry", apis.DeliveryRetryApi.as_view(), name="delivery-retry"),
    path("replays", apis.ReplayListApi.as_view(), name="replays"),
    path("replays/<int:pk>", apis.ReplayDetailApi.as_view(), name="replay"),
    path("replays/<int:pk>/cancel", apis.ReplayCancelApi.as_view(), name="replay-cancel"),
    path("targets", apis.TargetListApi.as_view(), name="targets"),
    path("targets/<slug:code>/pause", apis.TargetPauseApi.as_view(action="pause"), name="target-pause"),
    path("targets/<slug:code>/resume", apis.TargetPauseApi.as_view(action="resume"), name="target-resume"),
    path("rejected-messages/<int:pk>/resubmit", apis.RejectedResubmitApi.as_view(), name="rejected-resubmit"),
    *router.urls,
]
