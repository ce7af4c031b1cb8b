"""URLs of the sandbox: `receiver_urlpatterns` (mounted at /sandbox/, namespace "sandbox") and
`api_urlpatterns` (inside /api/v1/, namespace "api-v1")."""

from __future__ import annotations

from django.urls import path

from integrations.sandbox import apis, views

receiver_urlpatterns: list = [
    path("<slug:code>/", views.receive, name="receiver"),
    # Targets configured without the trailing slash still arrive (APPEND_SLASH cannot redirect a POST).
    path("<slug:code>", views.receive, name="receiver-no-slash"),
]
api_urlpatterns: list = [
    path("sandbox/receivers", apis.ReceiverListApi.as_view(), name="sandbox-receivers"),
    path("sandbox/receivers/<slug:code>", apis.ReceiverDetailApi.as_view(), name="sandbox-receiver"),
    path("sandbox/receivers/<slug:code>/receipts", apis.ReceiptListApi.as_view(), name="sandbox-receipts"),
]
