from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import health, metrics, preferences, schema, stream  # noqa: F401  (schema registers the OpenAPI auth extensions)

# The admin modules load with the URLs (settings use SimpleAdminConfig): command-line tools never
# serve the admin and start without them.
admin.autodiscover()

# Under /api/ these answer JSON, like everything else there; pages keep Django's own.
handler400 = "pitchey_incidents.api.bad_request"
handler404 = "pitchey_incidents.api.not_found"
handler500 = "pitchey_incidents.api.server_error"

api_v1 = [
    path("", include("incidents.api.urls")),
    path("", include("recovery.api.urls")),
    path("", include("backups.api.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    # Browsers and tools that ask for /favicon.ico (the admin, the API docs) get the page icon.
    path("favicon.ico", login_not_required(lambda request: HttpResponsePermanentRedirect(static("favicon.svg")))),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.MetricsView.as_view(), name="metrics"),
    path("admin/", admin.site.urls),
    path("status/", include("incidents.comms.urls")),
    path("people/", include("incidents.comms.people_urls")),
    path("integrations/", include("incidents.comms.inbound_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("preferences/", preferences.preferences, name="preferences"),
    path("events/stream/", stream.event_stream, name="event-stream"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("backups/", include("backups.urls")),
    path("recovery/", include("recovery.urls")),
    path("", include("incidents.urls")),
]
