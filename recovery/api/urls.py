from django.urls import path

from . import views

urlpatterns = [
    path("flags/", views.FlagListView.as_view(), name="flags"),
]
