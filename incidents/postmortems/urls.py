"""HTML pages for post-mortems, action items, reports and reviews (included by ``incidents/urls.py``,
in its ``incidents`` namespace)."""

from django.urls import path

from incidents.postmortems import reports, views

urlpatterns = [
    path("incidents/<str:public_id>/postmortem/", views.postmortem_page, name="postmortem"),
    path("incidents/<str:public_id>/postmortem/complete/", views.postmortem_complete, name="postmortem-complete"),
    path("incidents/<str:public_id>/action-items/", views.action_item_add, name="action-item-add"),
    path("action-items/", views.action_item_list, name="action-items"),
    path("action-items/<int:item_id>/", views.action_item_status, name="action-item-status"),
    path("reports/", reports.reports, name="reports"),
    path("reviews/weekly/", reports.review, {"kind": "weekly"}, name="review-weekly"),
    path("reviews/monthly/", reports.review, {"kind": "monthly"}, name="review-monthly"),
]
