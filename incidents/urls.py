from django.urls import include, path

from incidents import control_views, views

app_name = "incidents"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("incidents/new/", views.declare, name="declare"),
    path("incidents/<str:public_id>/", views.incident_detail, name="detail"),
    path("controls/", control_views.controls, name="controls"),
    path("controls/banner/", control_views.switch_banner, name="switch-banner"),
    path("setup/", views.setup, name="setup"),
    path("", include("incidents.postmortems.urls")),
    # Last of the incident routes: the generic action route would swallow the named ones above.
    path("incidents/<str:public_id>/<slug:action>/", views.incident_action, name="action"),
]
