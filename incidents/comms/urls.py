"""The public status page (mounted at ``/status/`` by the project, in its own ``status`` namespace)."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from incidents.comms.status import StatusFeed, status_page

app_name = "status"
urlpatterns = [
    path("", status_page, name="page"),
    path("feed.atom", login_not_required(StatusFeed()), name="feed"),
]
