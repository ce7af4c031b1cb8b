"""URLs: pages, health, API v1, OpenAPI docs, admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from controltower.accounts import apis as account_apis
from controltower.health import views as health_views
from controltower.masterdata import apis as masterdata_apis
from controltower.traces import apis as trace_apis
from controltower.web import api_docs, exception_views, network_views, trace_views
from controltower.web import views as web_views
from exceptions import apis as case_apis
from exceptions import apis_bulk as case_bulk_apis
from integrations.apis import catalog as catalog_apis
from integrations.apis import epcis as epcis_apis
from integrations.apis import events as event_apis
from integrations.delivery import urls as delivery_urls
from integrations.sandbox import urls as sandbox_urls

router = SimpleRouter(trailing_slash=False)
router.register("plants", masterdata_apis.PlantViewSet, basename="plant")
router.register("suppliers", masterdata_apis.SupplierViewSet, basename="supplier")

api_v1 = [
    path("me", account_apis.MeApi.as_view(), name="me"),
    path("tokens", account_apis.PersonalTokenListApi.as_view(), name="tokens"),
    path("tokens/<int:token_id>", account_apis.PersonalTokenDetailApi.as_view(), name="token"),
    path("events", event_apis.EventsApi.as_view(), name="events"),
    path("events/<int:pk>", event_apis.EventDetailApi.as_view(), name="event"),
    path("epcis/capture", epcis_apis.EpcisCaptureApi.as_view(), name="epcis-capture"),
    path(
        "epcis/capture/<uuid:capture_id>", epcis_apis.EpcisCaptureJobApi.as_view(), name="epcis-capture-job"
    ),
    path("contracts", catalog_apis.ContractListApi.as_view(), name="contracts"),
    path("contracts/<str:type>", catalog_apis.ContractDetailApi.as_view(), name="contract"),
    path("systems", catalog_apis.SystemListApi.as_view(), name="systems"),
    path("network", catalog_apis.NetworkLoadApi.as_view(), name="network"),
    path("traces", trace_apis.TraceListApi.as_view(), name="traces"),
    path("traces/<int:pk>", trace_apis.TraceDetailApi.as_view(), name="trace"),
    path("rejected-messages", catalog_apis.RejectedMessageListApi.as_view(), name="rejected-messages"),
    path(
        "rejected-messages/<int:pk>", catalog_apis.RejectedMessageDetailApi.as_view(), name="rejected-message"
    ),
    path("exceptions", case_apis.CaseListApi.as_view(), name="cases"),
    path("exceptions/export", case_bulk_apis.CaseExportApi.as_view(), name="cases-export"),
    path("exceptions/bulk", case_bulk_apis.CaseBulkApi.as_view(), name="case-bulks"),
    path("exceptions/bulk/<int:pk>", case_bulk_apis.CaseBulkDetailApi.as_view(), name="case-bulk"),
    path("exceptions/bulk/<int:pk>/start", case_bulk_apis.CaseBulkStartApi.as_view(), name="case-bulk-start"),
    path("exceptions/<int:pk>", case_apis.CaseDetailApi.as_view(), name="case"),
    *(
        path(f"exceptions/<int:pk>/{action}", api.as_view(), name=f"case-{action}")
        for action, api in case_apis.CASE_ACTION_APIS.items()
    ),
    *delivery_urls.api_urlpatterns,
    *sandbox_urls.api_urlpatterns,
    *router.urls,
]

urlpatterns = [
    path("", web_views.home, name="home"),
    path("partners/", web_views.partners, name="partners"),
    path("traces/", trace_views.traces, name="traces"),
    path("traces/<int:pk>/", trace_views.trace, name="trace"),
    path("systems/", network_views.systems, name="systems"),
    path("contracts/", network_views.contracts, name="contracts"),
    path("rejected/", network_views.rejected_messages, name="rejected-messages"),
    path("rejected/<int:pk>/", network_views.rejected_message, name="rejected-message"),
    path("", include("controltower.web.delivery_urls")),
    path("exceptions/", exception_views.cases, name="cases"),
    path("exceptions/export.csv", exception_views.cases_export, name="cases-export"),
    path("exceptions/bulk", exception_views.case_bulk_preview_view, name="case-bulk-preview"),
    path("exceptions/bulk/<int:pk>/", exception_views.case_bulk, name="case-bulk"),
    path("exceptions/bulk/<int:pk>/start", exception_views.case_bulk_start_view, name="case-bulk-start"),
    path("exceptions/<int:pk>/", exception_views.case, name="case"),
    path("exceptions/<int:pk>/retry", exception_views.case_retry_view, name="case-retry"),
    path("exceptions/<int:pk>/resubmit", exception_views.case_resubmit_view, name="case-resubmit"),
    path("exceptions/<int:pk>/<slug:action>", exception_views.case_action, name="case-action"),
    path("account/tokens/", web_views.tokens, name="tokens"),
    path("account/tokens/<int:token_id>/revoke", web_views.token_revoke, name="token-revoke"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("problems/<slug:slug>", web_views.problem_type, name="problem-type"),
    path("healthz", health_views.healthz, name="healthz"),
    path("readyz", health_views.readyz, name="readyz"),
    path("api/v1/", include((api_v1, "api"), namespace="api-v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs.SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", api_docs.RedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("admin/", admin.site.urls),
    path("sandbox/", include((sandbox_urls.receiver_urlpatterns, "sandbox"), namespace="sandbox")),
]

handler403 = "controltower.web.views.permission_denied"
handler404 = "controltower.web.views.page_not_found"
handler500 = "controltower.web.views.server_error"
