"""URLs: pages, health, API v1, OpenAPI docs, admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from controltower.accounts import apis as account_apis
from controltower.health import views as health_views
from controltower.masterdata import apis as masterdata_apis
from controltower.web import views as web_views

router = SimpleRouter(trailing_slash=False)
router.register("plants", masterdata_apis.PlantViewSet, basename="plant")
router.register("suppliers", masterdata_apis.SupplierViewSet, basename="supplier")

api_v1 = [
    path("me", account_apis.MeApi.as_view(), name="me"),
    path("tokens", account_apis.PersonalTokenListApi.as_view(), name="tokens"),
    path("tokens/<int:token_id>", account_apis.PersonalTokenDetailApi.as_view(), name="token"),
    *router.urls,
]

urlpatterns = [
    path("", web_views.home, name="home"),
    path("partners/", web_views.partners, name="partners"),
    path("account/tokens/", web_views.tokens, name="tokens"),
    path("account/tokens/<int:token_id>/revoke", web_views.token_revoke, name="token-revoke"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("problems/<slug:slug>", web_views.problem_type, name="problem-type"),
    path("healthz", health_views.healthz, name="healthz"),
    path("readyz", health_views.readyz, name="readyz"),
    path("api/v1/", include((api_v1, "api"), namespace="api-v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("admin/", admin.site.urls),
]

handler403 = "controltower.web.views.permission_denied"
handler404 = "controltower.web.views.page_not_found"
handler500 = "controltower.web.views.server_error"
