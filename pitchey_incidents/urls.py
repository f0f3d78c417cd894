from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import health, metrics, schema, stream  # noqa: F401  (schema registers the OpenAPI auth extensions)

# The admin modules load with the URLs (settings use SimpleAdminConfig): command-line tools never
# serve the admin and start without them.
admin.autodiscover()

api_v1 = [
    path("", include("incidents.api.urls")),
    path("", include("recovery.api.urls")),
    path("", include("backups.api.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.MetricsView.as_view(), name="metrics"),
    path("admin/", admin.site.urls),
    path("status/", include("incidents.comms.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("events/stream/", stream.event_stream, name="event-stream"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("backups/", include("backups.urls")),
    path("recovery/", include("recovery.urls")),
    path("", include("incidents.urls")),
]
