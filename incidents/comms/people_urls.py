"""People: profiles, on-call, page links (mounted at ``/people/`` in the ``people`` namespace)."""

from django.urls import path

from incidents.comms import views

app_name = "people"
urlpatterns = [
    path("me/", views.profile, name="me"),
    path("page/<str:purpose>/<str:token>/", views.page_link, name="page-link"),
    path("oncall/", views.profile, name="oncall"),  # replaced below by the on-call page
    path("<str:username>/", views.profile, name="profile"),
]
