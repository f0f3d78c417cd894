"""``GET /api/v1/oncall/``: who is on call now in each rotation, and the emergency contacts."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.comms import oncall


class OnCallSerializer(serializers.Serializer):
    rotation = serializers.CharField()
    user = serializers.CharField(allow_null=True)
    override = serializers.BooleanField()
    until = serializers.DateTimeField(allow_null=True)
    next = serializers.CharField(allow_null=True)


class EmergencyContactSerializer(serializers.Serializer):
    role = serializers.CharField()
    contact = serializers.CharField()
    availability = serializers.CharField()


class OnCallOverviewSerializer(serializers.Serializer):
    rotations = OnCallSerializer(many=True)
    emergency_contacts = EmergencyContactSerializer(many=True)


class OnCallView(APIView):
    read_role = "viewer"

    @extend_schema(responses=OnCallOverviewSerializer)
    def get(self, request):
        data = {"rotations": oncall.oncall_overview(), "emergency_contacts": oncall.emergency_contacts()}
        return Response(OnCallOverviewSerializer(data).data)
