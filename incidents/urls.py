from django.urls import path

from . import views

app_name = "incidents"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("incidents/new/", views.declare, name="declare"),
    path("incidents/<str:public_id>/", views.incident_detail, name="detail"),
    path("incidents/<str:public_id>/<slug:action>/", views.incident_action, name="action"),
    path("controls/", views.controls, name="controls"),
]
