"""People: profiles, on-call, page links (mounted at ``/people/`` in the ``people`` namespace)."""

from django.urls import path

from incidents.comms import views

app_name = "people"
urlpatterns = [
    path("me/", views.profile, name="me"),
    path("page/<str:purpose>/<str:token>/", views.page_link, name="page-link"),
    path("oncall/", views.oncall_page, name="oncall"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar"),
    path("<str:username>/", views.profile, name="profile"),
]
