from django.urls import path
from rest_framework.routers import SimpleRouter

from . import detection, views

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("mitigations", views.MitigationViewSet, basename="mitigation")

urlpatterns = [
    path("actions/", views.ActionListView.as_view(), name="actions"),
    path("services/", views.ServiceListView.as_view(), name="services"),
    path("alerts/<str:kind>/ping/", detection.AlertPingView.as_view(), name="alerts-ping"),
    path("alerts/<str:kind>/", detection.AlertIntakeView.as_view(), name="alerts"),
    path("health/", detection.HealthView.as_view(), name="health"),
    path("detect/", detection.DetectView.as_view(), name="detect"),
    path("whoami/", views.WhoAmIView.as_view(), name="whoami"),
    *router.urls,
]
