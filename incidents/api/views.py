from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.api import serializers as s
from incidents.detection import selectors as detection_selectors
from incidents.lifecycle import selectors, services
from incidents.lifecycle.models import Incident, Mitigation, Source, Status
from incidents.setup import setup_report
from pitchey_incidents.drf import ANY, validated
from pitchey_incidents.roles import role_of
from recovery.actions import REGISTRY
from recovery.models import Service, Severity


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Incidents: declare, list, and drive through the lifecycle."""

    serializer_class = s.IncidentSerializer
    lookup_value_regex = "[^/]+"
    write_role = "commander"
    action_roles = {"acknowledge": "responder", "mitigations": "responder", "updates": "responder"}

    def get_queryset(self) -> QuerySet[Incident]:
        q = self.request.query_params
        return selectors.incident_list(status=q.get("status"), severity=q.get("severity"), service=q.get("service"))

    def get_object(self) -> Incident:
        incident = selectors.incident_or_404(self.kwargs["pk"])
        self.check_object_permissions(self.request, incident)
        return incident

    def _answer(self, incident: Incident, code: int = status.HTTP_200_OK) -> Response:
        incident = selectors.incident_get(incident.public_id)
        return Response(s.IncidentSerializer(incident, context={"request": self.request}).data, status=code)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status", str, description=f"open, or one status; {ANY}", enum=["", "open", *Status.values]
            ),
            OpenApiParameter("severity", str, enum=["", *Severity.values], description=ANY),
            OpenApiParameter("service", str, description="service slug"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[OpenApiParameter("include", str, description="`timeline` embeds the timeline")])
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incident = self.get_object()
        data = s.IncidentSerializer(incident, context={"request": request}).data
        if request.query_params.get("include") == "timeline":
            data["timeline"] = s.TimelineEntrySerializer(selectors.incident_timeline(incident), many=True).data
        return Response(data)

    @extend_schema(request=s.DeclareSerializer, responses={201: s.IncidentSerializer})
    def create(self, request: Request) -> Response:
        data = validated(s.DeclareSerializer, request)
        incident = services.incident_declare(**data, actor=request.user, source=Source.API)
        return self._answer(incident, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(services.incident_acknowledge(incident=self.get_object(), actor=request.user))

    @extend_schema(request=s.AssignSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        data = validated(s.AssignSerializer, request)
        return self._answer(services.incident_assign(incident=incident, actor=request.user, **data))

    @extend_schema(request=s.SeveritySerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"])
    def severity(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        data = validated(s.SeveritySerializer, request)
        return self._answer(services.incident_change_severity(incident=incident, actor=request.user, **data))

    @extend_schema(request=s.UpdateSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"])
    def updates(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        data = validated(s.UpdateSerializer, request)
        return self._answer(services.incident_post_update(incident=incident, actor=request.user, **data))

    @extend_schema(request=s.EscalateSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"])
    def escalate(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        data = validated(s.EscalateSerializer, request)
        return self._answer(services.incident_escalate(incident=incident, actor=request.user, **data))

    @extend_schema(request=None, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"])
    def monitor(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(services.incident_monitor(incident=self.get_object(), actor=request.user))

    @extend_schema(request=s.ResolveSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        data = validated(s.ResolveSerializer, request)
        return self._answer(services.incident_resolve(incident=incident, actor=request.user, **data))

    @extend_schema(responses=s.TimelineEntrySerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def timeline(self, request: Request, pk: str | None = None) -> Response:
        entries = selectors.incident_timeline(self.get_object())
        return Response(s.TimelineEntrySerializer(entries, many=True).data)

    @extend_schema(methods=["GET"], responses=s.MitigationSerializer(many=True))
    @extend_schema(methods=["POST"], request=s.MitigationRequestSerializer, responses={202: s.MitigationSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def mitigations(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        if request.method == "GET":
            return Response(s.MitigationSerializer(selectors.incident_mitigations(incident), many=True).data)
        data = validated(s.MitigationRequestSerializer, request)
        mitigation = services.mitigation_start(incident=incident, actor=request.user, **data)
        return Response(s.MitigationSerializer(mitigation).data, status=status.HTTP_202_ACCEPTED)


class MitigationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.MitigationSerializer
    queryset = Mitigation.objects.select_related("incident").order_by("-created_at", "-id")


class ActionListView(APIView):
    """The mitigation actions that exist, with their parameters and whether they can run here."""

    @extend_schema(responses=s.ActionSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response([impl.describe() for _, impl in sorted(REGISTRY.items())])


class ServiceListView(APIView):
    @extend_schema(responses=s.ServiceSerializer(many=True))
    def get(self, request: Request) -> Response:
        health = detection_selectors.service_health()
        return Response(s.ServiceSerializer(Service.objects.all(), many=True, context={"health": health}).data)


class WhoAmIView(APIView):
    """The caller's username and role: a cheap authenticated endpoint for clients and benchmarks."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response({"username": request.user.get_username(), "role": role_of(request.user)})


class SetupView(APIView):
    """What is configured and what will not work yet: the /setup/ page and ``manage.py doctor`` as JSON.

    ``sections[].items[]``: ``section``, ``key``, ``label``, ``status`` (``configured`` | ``missing``), ``set``
    (the variable to set), ``detail``, ``consequence``, ``testable``. ``p0_pages_nobody`` is true when
    declaring a P0 now would reach no one."""

    @extend_schema(responses={200: s.SetupReportSerializer})
    def get(self, request):
        return Response(setup_report())
