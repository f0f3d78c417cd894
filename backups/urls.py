from django.urls import path

from . import views

app_name = "backups"

urlpatterns = [
    path("", views.backups_page, name="index"),
    path("start/", views.backup_start, name="start"),
    path("<int:backup_id>/restore/", views.restore_page, name="restore"),
    path("pitr/restore/", views.pitr_restore, name="pitr-restore"),
]
