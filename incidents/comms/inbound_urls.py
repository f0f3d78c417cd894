"""Inbound integrations (mounted at ``/integrations/``): verified by signature, not by session."""

from django.urls import path

from incidents.comms import inbound

app_name = "integrations"
urlpatterns = [
    path("slack/interactivity", inbound.slack_interactivity, name="slack-interactivity"),
    path("pagerduty/webhook", inbound.pagerduty_webhook, name="pagerduty-webhook"),
    path("mattermost/actions", inbound.mattermost_actions, name="mattermost-actions"),
]
