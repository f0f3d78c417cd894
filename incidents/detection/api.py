"""Alert intake, probe health and on-demand detection."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.detection import alerting
from incidents.detection import selectors as detection_selectors
from incidents.detection import services as detection
from incidents.detection.intake import REGISTRY as INTAKES
from incidents.detection.intake import get_intake
from incidents.detection.models import AlertSource
from pitchey_incidents.drf import loads_bounded, read_limited
from pitchey_incidents.text import clean_controls

ProbeHealthSerializer = inline_serializer(
    "ProbeHealth",
    many=True,
    fields={
        "check": serializers.CharField(),
        "label": serializers.CharField(),
        "kind": serializers.CharField(),
        "service": serializers.CharField(),
        "status": serializers.CharField(help_text="ok, degraded, down, skipped, or unknown (never run)"),
        "at": serializers.DateTimeField(allow_null=True),
        "latency_ms": serializers.FloatField(allow_null=True),
        "metrics": serializers.DictField(),
        "detail": serializers.CharField(),
    },
)
PingSerializer = inline_serializer("AlertPing", {"source": serializers.CharField(), "kind": serializers.CharField()})
AcceptedSerializer = inline_serializer(
    "AlertsAccepted",
    {"received": serializers.IntegerField(), "incidents": serializers.ListField(child=serializers.CharField())},
)


class AlertIntakeBase(APIView):
    """Authenticated by the alert source's own secret (``Authorization: Bearer <secret>``)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def authenticate_source(self, request: Request, kind: str) -> tuple[AlertSource | None, Response | None]:
        source = alerting.alertsource_authenticate(kind=kind, authorization=request.META.get("HTTP_AUTHORIZATION", ""))
        if source is None:
            return None, Response(
                {"detail": "missing or invalid alert source secret"},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": 'Bearer realm="alerts"'},
            )
        return source, None


class AlertIntakeView(AlertIntakeBase):
    @extend_schema(
        request={"application/json": dict},
        responses={202: AcceptedSerializer},
        parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=sorted(INTAKES))],
        description="Alertmanager (webhook v4), Grafana Alerting or generic alerts. 400 names the bad field, "
        "413 when the body is over ALERT_MAX_BODY_BYTES; nothing is stored on error.",
    )
    def post(self, request: Request, kind: str) -> Response:
        if kind not in INTAKES:
            return Response({"kind": [f"must be one of {', '.join(sorted(INTAKES))}"]}, status=404)
        source, refused = self.authenticate_source(request, kind)
        if refused:
            return refused
        body = read_limited(request.stream, settings.ALERT_MAX_BODY_BYTES)
        intake = get_intake(kind)
        refusal = intake.verify(source, body, request.headers)
        if refusal:
            return Response({"detail": refusal}, status=status.HTTP_401_UNAUTHORIZED)
        payload = clean_controls(loads_bounded(body))  # nesting bounded, no control characters in any string
        alerts = intake.parse(payload)
        incidents = alerting.alerts_ingest(source=source, alerts=alerts)
        return Response({"received": len(alerts), "incidents": list(dict.fromkeys(incidents))}, status=202)


class AlertPingView(AlertIntakeBase):
    """Checks a sender's secret and does nothing else (also the benchmark's no-op baseline)."""

    @extend_schema(
        request=None,
        responses={200: PingSerializer},
        parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=sorted(INTAKES))],
    )
    def post(self, request: Request, kind: str) -> Response:
        source, refused = self.authenticate_source(request, kind)
        if refused:
            return refused
        return Response({"source": source.name, "kind": source.kind})


class HealthView(APIView):
    """The latest result of every probe."""

    @extend_schema(responses={200: ProbeHealthSerializer})
    def get(self, request: Request) -> Response:
        rows = []
        for probe in detection_selectors.probes_with_latest():
            r = probe.latest
            rows.append(
                {
                    "check": probe.name,
                    "label": probe.label,
                    "kind": probe.kind,
                    "service": probe.service.slug,
                    "status": r.status if r else "unknown",
                    "at": r.at.isoformat() if r else None,
                    "latency_ms": r.latency_ms if r else None,
                    "metrics": r.metrics if r else {},
                    "detail": r.detail if r else "",
                }
            )
        return Response(rows)


class DetectView(APIView):
    """Run detection now (probes, assessment, automated mitigation) and return the findings."""

    write_role = "commander"

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request) -> Response:
        return Response(detection.detection_run().as_dict())
