from django.urls import path

from . import views

app_name = "recovery"

urlpatterns = [
    path("", views.index, name="index"),
    path("start/", views.start, name="start"),
    path("trend.svg", views.trend, name="trend"),
    path("incident/<str:public_id>/", views.incident_runs, name="incident-runs"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/report/", views.report, name="report"),
    path("runs/<int:run_id>/report.md", views.report, {"fmt": "md"}, name="report-md"),
    path("runs/<int:run_id>/report.json", views.report, {"fmt": "json"}, name="report-json"),
]
