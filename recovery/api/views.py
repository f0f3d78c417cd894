from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import RuntimeFlag


class FlagSerializer(serializers.ModelSerializer):
    class Meta:
        model = RuntimeFlag
        fields = ["name", "enabled", "changed_at", "changed_by", "reason"]


class FlagListView(APIView):
    """Runtime flags (``READ_ONLY_MODE``, ``MAINTENANCE_MODE``) that the protected app polls."""

    @extend_schema(responses=FlagSerializer(many=True))
    def get(self, request):
        flags = {f.name: f for f in RuntimeFlag.objects.all()}
        for name in ("MAINTENANCE_MODE", "READ_ONLY_MODE"):
            flags.setdefault(name, RuntimeFlag(name=name, enabled=False))
        return Response(FlagSerializer(sorted(flags.values(), key=lambda f: f.name), many=True).data)
