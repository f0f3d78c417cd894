from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("recovery-runs", views.RecoveryRunViewSet, basename="recovery-run")
router.register("drills", views.DrillViewSet, basename="drill")

urlpatterns = [
    path("flags/", views.FlagListView.as_view(), name="flags"),
    *router.urls,
]
