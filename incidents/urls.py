from django.urls import path

from . import views

app_name = "incidents"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("incidents/<str:public_id>/", views.incident_detail, name="detail"),
]
