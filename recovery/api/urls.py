from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("recovery-runs", views.RecoveryRunViewSet, basename="recovery-run")
router.register("drills", views.DrillViewSet, basename="drill")

urlpatterns = [
    path("flags/", views.FlagListView.as_view(), name="flags"),
    path("controls/", views.ControlListView.as_view(), name="controls"),
    path("controls/runs/", views.ControlAuditView.as_view(), name="control-runs"),
    path("controls/runs/<int:run_id>/undo/", views.ControlUndoView.as_view(), name="control-undo"),
    path("controls/<str:name>/", views.ControlRunView.as_view(), name="control-run"),
    *router.urls,
]
