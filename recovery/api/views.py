from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pitchey_incidents.drf import ANY, validated
from pitchey_incidents.errors import DomainError

from .. import controls, selectors, services
from ..models import ControlRun, RecoveryRun, RunStatus, RuntimeFlag
from . import serializers as s


class FlagSerializer(serializers.ModelSerializer):
    changed_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="null: never changed")

    class Meta:
        model = RuntimeFlag
        fields = ["name", "enabled", "changed_at", "changed_by", "reason"]


class FlagListView(APIView):
    """Runtime flags (``READ_ONLY_MODE``, ``MAINTENANCE_MODE``) that the protected app polls."""

    @extend_schema(responses=FlagSerializer(many=True))
    def get(self, request: Request) -> Response:
        flags = {f.name: f for f in RuntimeFlag.objects.all()}
        for name in ("MAINTENANCE_MODE", "READ_ONLY_MODE"):
            flags.setdefault(name, RuntimeFlag(name=name, enabled=False))
        return Response(FlagSerializer(sorted(flags.values(), key=lambda f: f.name), many=True).data)


class _RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    kind = "run"
    write_role = "commander"

    def get_queryset(self) -> QuerySet[RecoveryRun]:
        state = self.request.query_params.get("status") or None
        if state and state not in RunStatus.values:
            raise DomainError(f"must be one of {', '.join(RunStatus.values)}", field="status")
        return selectors.runs(kind=self.kind, status=state)

    def _answer(self, run: RecoveryRun, code: int = status.HTTP_200_OK) -> Response:
        run = selectors.run_with_steps(run.id)
        return Response(self.get_serializer(run).data, status=code)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(services.run_cancel(run=self.get_object(), actor=request.user), status.HTTP_202_ACCEPTED)


@extend_schema_view(cancel=extend_schema(responses={202: s.RecoveryRunSerializer}))
class RecoveryRunViewSet(_RunViewSet):
    """Recovery runs: a plan executed step by step, resumable, with measured RTO/RPO and a report."""

    serializer_class = s.RecoveryRunSerializer

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=["", *RunStatus.values], description=ANY)])
    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.StartRunSerializer, responses={202: s.RecoveryRunSerializer})
    def create(self, request: Request) -> Response:
        data = validated(s.StartRunSerializer, request)
        extra = services.incident_fields(data.get("incident"))
        run = services.run_start(plan=data["plan"], dry_run=data["dry_run"], actor=request.user, **extra)
        return self._answer(run, status.HTTP_202_ACCEPTED)


@extend_schema_view(cancel=extend_schema(responses={202: s.DrillSerializer}))
class DrillViewSet(_RunViewSet):
    """Drills: the runbook's test scenarios on scratch resources, with steady-state checks."""

    serializer_class = s.DrillSerializer
    kind = "drill"

    @extend_schema(request=s.StartDrillSerializer, responses={202: s.DrillSerializer})
    def create(self, request: Request) -> Response:
        data = validated(s.StartDrillSerializer, request)
        return self._answer(
            services.drill_start(scenario=data["scenario"], actor=request.user), status.HTTP_202_ACCEPTED
        )


class ControlListView(APIView):
    """The emergency controls: configured here or not (and what to set), a switch's state, the undo."""

    @extend_schema(responses=s.ControlStateSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response([controls.control_state(c) for c in controls.EMERGENCY_CONTROLS])


class ControlRunView(APIView):
    """Run one control now (commander or admin). ``dry_run`` answers with the exact requests it would
    send, sending none. An ``Idempotency-Key`` header makes a repeated request answer with the first
    run instead of running again."""

    @extend_schema(
        request=s.ControlRequestSerializer,
        responses={200: s.ControlRunSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
    )
    def post(self, request: Request, name: str) -> Response:
        if name not in controls.BY_NAME:
            raise NotFound(f"no control named {name!r}; known: {', '.join(controls.BY_NAME)}")
        control = controls.BY_NAME[name]
        data = validated(s.ControlRequestSerializer, request)
        run = controls.control_run(
            action=control.name,
            params=data["params"],
            actor=request.user.get_username(),
            dry_run=data["dry_run"],
            incident=data["incident"],
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        return Response(controls.run_answer(run))


class ControlAuditView(APIView):
    """The one audit trail of emergency controls and mitigations, newest first."""

    @extend_schema(responses=s.ControlRunSerializer(many=True))
    def get(self, request: Request) -> Response:
        runs = ControlRun.objects.all()[:100]
        return Response([controls.run_answer(r) for r in runs])


class ControlUndoView(APIView):
    """Run the undo a control run offers (scale back, forward again, turn a switch off), once."""

    @extend_schema(request=None, responses={200: s.ControlRunSerializer})
    def post(self, request: Request, run_id: int) -> Response:
        if not ControlRun.objects.filter(id=run_id).exists():
            raise NotFound("no such control run")
        run = controls.control_undo(
            run_id=run_id,
            actor=request.user.get_username(),
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        return Response(controls.run_answer(run))
