from django.urls import path

from incidents import views
from incidents.postmortems import reports as report_views
from incidents.postmortems import views as postmortem_views

app_name = "incidents"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("incidents/new/", views.declare, name="declare"),
    path("incidents/<str:public_id>/", views.incident_detail, name="detail"),
    path("controls/", views.controls, name="controls"),
    path("incidents/<str:public_id>/postmortem/", postmortem_views.postmortem_page, name="postmortem"),
    path(
        "incidents/<str:public_id>/postmortem/complete/",
        postmortem_views.postmortem_complete,
        name="postmortem-complete",
    ),
    path("incidents/<str:public_id>/action-items/", postmortem_views.action_item_add, name="action-item-add"),
    path("action-items/", postmortem_views.action_item_list, name="action-items"),
    path("action-items/<int:item_id>/", postmortem_views.action_item_status, name="action-item-status"),
    # Last of the incident routes: the generic action route would swallow the named ones above.
    path("incidents/<str:public_id>/<slug:action>/", views.incident_action, name="action"),
    path("reports/", report_views.reports, name="reports"),
    path("reviews/weekly/", report_views.review, {"kind": "weekly"}, name="review-weekly"),
    path("reviews/monthly/", report_views.review, {"kind": "monthly"}, name="review-monthly"),
]
