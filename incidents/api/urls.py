from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("mitigations", views.MitigationViewSet, basename="mitigation")

urlpatterns = [
    path("actions/", views.ActionListView.as_view(), name="actions"),
    path("services/", views.ServiceListView.as_view(), name="services"),
    path("whoami/", views.WhoAmIView.as_view(), name="whoami"),
    *router.urls,
]
