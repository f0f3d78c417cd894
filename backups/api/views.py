from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from pitchey_incidents.drf import ANY, validated
from pitchey_incidents.errors import DomainError

from .. import restores, selectors, services
from ..models import Backup, Kind, Restore, Status, Trigger
from ..pitr import restore as point_in_time
from . import serializers as s


class BackupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Backups: start one (202), list, show, verify (202), and the RPO status per data type."""

    serializer_class = s.BackupSerializer
    lookup_value_regex = r"[0-9]+"
    write_role = "commander"

    def get_queryset(self) -> QuerySet[Backup]:
        q = self.request.query_params
        kind, state = q.get("kind"), q.get("status")
        if kind and kind not in Kind.values:
            raise DomainError(f"must be one of {', '.join(Kind.values)}", field="kind")
        if state and state not in Status.values:
            raise DomainError(f"must be one of {', '.join(Status.values)}", field="status")
        return selectors.backup_list(kind=kind, status=state)

    def get_object(self) -> Backup:
        try:
            return selectors.backup_get(int(self.kwargs["pk"]))
        except (Backup.DoesNotExist, ValueError):
            raise Http404("no such backup") from None

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=["", *Kind.values], description=ANY),
            OpenApiParameter("status", str, enum=["", *Status.values], description=ANY),
        ]
    )
    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.StartSerializer, responses={202: s.BackupSerializer})
    def create(self, request: Request) -> Response:
        data = validated(s.StartSerializer, request)
        backup = services.backup_start(kind=data["kind"], actor=request.user, trigger=Trigger.API)
        return Response(s.BackupSerializer(selectors.backup_get(backup.id)).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.VerifySerializer, responses={202: s.BackupSerializer})
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        backup = self.get_object()
        data = validated(s.VerifySerializer, request)
        services.backup_verify_start(backup=backup, actor=request.user, restore_test=data["restore_test"])
        return Response(s.BackupSerializer(selectors.backup_get(backup.id)).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=s.RestoreRequestSerializer,
        responses={202: s.RestoreSerializer, 200: s.RestoreSerializer},
        description="Restore the backup: files into their targets (or ``into``), the database part into "
        "``database_url``. 202 and the restore to follow at /api/v1/restores/{id}/; with ``dry_run``, "
        "200 and what would be added, replaced and removed.",
    )
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str | None = None) -> Response:
        backup = self.get_object()
        data = validated(s.RestoreRequestSerializer, request)
        row = restores.restore_start(backup=backup, actor=request.user, **data)
        code = status.HTTP_200_OK if row.dry_run else status.HTTP_202_ACCEPTED
        return Response(s.RestoreSerializer(row).data, status=code)

    @extend_schema(responses=s.RpoSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def rpo(self, request: Request) -> Response:
        return Response(s.RpoSerializer(selectors.rpo_status(), many=True).data)

    @extend_schema(responses=s.PitrSerializer)
    @action(detail=False, methods=["get"])
    def pitr(self, request: Request) -> Response:
        """Continuous archiving: the newest base backup, how long ago the WAL was received in full,
        the WAL the slot keeps on the server, an open gap."""
        return Response(s.PitrSerializer(selectors.pitr_status()).data)

    @extend_schema(request=s.PitrRestoreSerializer, responses={200: s.PitrRestoredSerializer})
    @action(detail=False, methods=["post"], url_path="pitr/restore")
    def pitr_restore(self, request: Request) -> Response:
        """Bring up the PITR target as it was at ``to_time`` in a new data directory and port (waits
        until it is promoted); 409 when that time cannot be reached, saying why."""
        data = validated(s.PitrRestoreSerializer, request)
        result = point_in_time.pitr_restore(to_time=data["to_time"], port=data.get("port"), actor=request.user)
        return Response(s.PitrRestoredSerializer(result).data)


class RestoreViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Restores: follow one started with ``POST /api/v1/backups/{id}/restore/``."""

    serializer_class = s.RestoreSerializer
    lookup_value_regex = r"[0-9]+"
    queryset = Restore.objects.order_by("-created_at", "-id")
