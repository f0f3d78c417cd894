from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("backups", views.BackupViewSet, basename="backup")
router.register("restores", views.RestoreViewSet, basename="restore")

urlpatterns = router.urls
