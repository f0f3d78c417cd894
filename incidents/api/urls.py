from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views
from .oncall import OnCallView

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("mitigations", views.MitigationViewSet, basename="mitigation")

urlpatterns = [
    path("actions/", views.ActionListView.as_view(), name="actions"),
    path("services/", views.ServiceListView.as_view(), name="services"),
    path("oncall/", OnCallView.as_view(), name="oncall"),
    path("whoami/", views.WhoAmIView.as_view(), name="whoami"),
    *router.urls,
]
