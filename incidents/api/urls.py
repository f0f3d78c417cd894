from django.urls import path
from rest_framework.routers import SimpleRouter

from incidents.api import views
from incidents.comms.api import oncall, people
from incidents.detection import api as detection
from incidents.postmortems import api as postmortems

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("mitigations", views.MitigationViewSet, basename="mitigation")

urlpatterns = [
    path("actions/", views.ActionListView.as_view(), name="actions"),
    path("services/", views.ServiceListView.as_view(), name="services"),
    path("incidents/<str:pk>/postmortem/", postmortems.PostMortemView.as_view(), name="postmortem"),
    path(
        "incidents/<str:pk>/postmortem/complete/",
        postmortems.PostMortemCompleteView.as_view(),
        name="postmortem-complete",
    ),
    path("incidents/<str:pk>/postmortem.md", postmortems.PostMortemMarkdownView.as_view(), name="postmortem-md"),
    path("action-items/", postmortems.ActionItemListView.as_view(), name="action-items"),
    path("action-items/<int:pk>/", postmortems.ActionItemDetailView.as_view(), name="action-item"),
    path("metrics/summary/", postmortems.MetricsSummaryView.as_view(), name="metrics-summary"),
    path("oncall/", oncall.OnCallView.as_view(), name="oncall"),
    path("oncall/rotations/", oncall.RotationListView.as_view(), name="rotations"),
    path("oncall/rotations/<int:pk>/overrides/", oncall.OverrideListView.as_view(), name="rotation-overrides"),
    path("escalation-levels/", oncall.EscalationLevelsView.as_view(), name="escalation-levels"),
    path("people/", people.PersonListView.as_view(), name="people"),
    path("people/<str:username>/", people.PersonDetailView.as_view(), name="person"),
    path(
        "people/<str:username>/contact-methods/", people.ContactMethodListView.as_view(), name="person-contact-methods"
    ),
    path(
        "people/<str:username>/contact-methods/<int:pk>/verify/",
        people.ContactMethodVerifyView.as_view(),
        name="person-contact-method-verify",
    ),
    path(
        "people/<str:username>/contact-methods/<int:pk>/send-code/",
        people.ContactMethodSendCodeView.as_view(),
        name="person-contact-method-send-code",
    ),
    path("alerts/<str:kind>/ping/", detection.AlertPingView.as_view(), name="alerts-ping"),
    path("alerts/<str:kind>/", detection.AlertIntakeView.as_view(), name="alerts"),
    path("health/", detection.HealthView.as_view(), name="health"),
    path("detect/", detection.DetectView.as_view(), name="detect"),
    path("whoami/", views.WhoAmIView.as_view(), name="whoami"),
    path("setup/", views.SetupView.as_view(), name="setup"),
    *router.urls,
]
