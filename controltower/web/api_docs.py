"""The API docs pages under the Content-Security-Policy.

Swagger UI (/api/docs/) uses drf-spectacular's split view, whose initialiser is a script file
rather than an inline script, with a template that has no inline style: it runs under the
site's strict policy. ReDoc (/api/redoc/) injects its styles at run time and builds its search
worker from a blob, so it alone gets those exceptions (and its footer's logo), on its own page only.
"""

from __future__ import annotations

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView


class SwaggerView(SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"


# ReDoc's footer shows its logo from its CDN: allowed as an image on this page, nothing more.
REDOC_POLICY = {
    "style-src": [UNSAFE_INLINE],
    "worker-src": [SELF, "blob:"],
    "img-src": ["https://cdn.redoc.ly"],
}


@method_decorator(csp_update(REDOC_POLICY), name="dispatch")
class RedocView(SpectacularRedocView):
    template_name = "api/redoc.html"
