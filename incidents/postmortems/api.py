"""API for after the incident: post-mortems, action items, and the metrics summary."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.lifecycle import selectors
from incidents.lifecycle.models import Incident
from incidents.postmortems import mttx as metrics_selectors
from incidents.postmortems import selectors as postmortem_selectors
from incidents.postmortems import services as postmortem_services
from incidents.postmortems.models import ActionItem, ActionItemStatus, PostMortem, PostMortemStatus
from pitchey_incidents.drf import ANY, validated

# --- serializers ---------------------------------------------------------------------------------


class ActionItemSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="incident.public_id", read_only=True)
    owner = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = ActionItem
        fields = ["id", "incident", "title", "owner", "due_at", "status", "overdue", "created_at", "done_at"]

    def get_owner(self, item: ActionItem) -> str | None:
        return item.owner.get_username() if item.owner else None

    def get_overdue(self, item: ActionItem) -> bool:
        return item.is_overdue()


class ActionItemWriteSerializer(serializers.Serializer):
    incident = serializers.CharField(required=False)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    owner = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    due_at = serializers.DateTimeField(required=False)
    status = serializers.ChoiceField(choices=ActionItemStatus.choices, required=False)


class ActionItemCreateSerializer(ActionItemWriteSerializer):
    incident = serializers.CharField(help_text="The incident's id (INC-00001)")
    title = serializers.CharField(max_length=200)


class PostMortemPatchSerializer(serializers.Serializer):
    sections = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    status = serializers.ChoiceField(choices=PostMortemStatus.choices, required=False)
    meeting_at = serializers.DateTimeField(required=False, allow_null=True)


def postmortem_body(pm: PostMortem, request: Request | None = None) -> dict:
    now = timezone.now()
    items = pm.incident.action_items.all()
    return {
        "incident": pm.incident.public_id,
        "status": pm.status,
        "opened_at": pm.opened_at,
        "completed_at": pm.completed_at,
        "meeting_at": pm.meeting_at,
        "deadlines": [
            {"name": row["name"], "due_at": row["due_at"], "done_at": row["done_at"], "state": row["state"]}
            for row in postmortem_selectors.deadline_rows(pm, now)
        ],
        "sections": pm.sections(),
        "action_items": ActionItemSerializer(items, many=True).data,
        "markdown_url": f"/api/v1/incidents/{pm.incident.public_id}/postmortem.md",
    }


POSTMORTEM_SCHEMA = inline_serializer(
    "PostMortem",
    {
        "incident": serializers.CharField(),
        "status": serializers.ChoiceField(choices=PostMortemStatus.choices),
        "deadlines": serializers.ListField(child=serializers.DictField()),
        "sections": serializers.DictField(child=serializers.CharField()),
        "action_items": ActionItemSerializer(many=True),
    },
)


# --- views ---------------------------------------------------------------------------------------


def _postmortem(incident: Incident) -> PostMortem:
    try:
        return postmortem_selectors.postmortem_of(incident)
    except PostMortem.DoesNotExist:
        raise Http404("no post-mortem yet: it opens when the incident resolves") from None


class PostMortemView(APIView):
    """The incident's post-mortem: read it, or edit its sections, status and meeting time."""

    write_role = "responder"

    @extend_schema(responses=POSTMORTEM_SCHEMA)
    def get(self, request: Request, pk: str) -> Response:
        return Response(postmortem_body(_postmortem(selectors.incident_or_404(pk))))

    @extend_schema(request=PostMortemPatchSerializer, responses=POSTMORTEM_SCHEMA)
    def patch(self, request: Request, pk: str) -> Response:
        incident = selectors.incident_or_404(pk)
        _postmortem(incident)
        data = validated(PostMortemPatchSerializer, request)
        if "meeting_at" not in data:
            data["meeting_at"] = postmortem_services.UNSET
        postmortem_services.postmortem_update(incident=incident, actor=request.user, **data)
        return Response(postmortem_body(postmortem_selectors.postmortem_of(incident)))


class PostMortemCompleteView(APIView):
    """Complete the post-mortem (409 while a section is empty); this closes the incident."""

    write_role = "commander"

    @extend_schema(request=None, responses=POSTMORTEM_SCHEMA)
    def post(self, request: Request, pk: str) -> Response:
        incident = selectors.incident_or_404(pk)
        _postmortem(incident)
        postmortem_services.postmortem_complete(incident=incident, actor=request.user)
        return Response(postmortem_body(postmortem_selectors.postmortem_of(incident)))


class PostMortemMarkdownView(APIView):
    """The post-mortem as a Markdown document (downloaded as ``INC-…-postmortem.md``)."""

    @extend_schema(responses={(200, "text/markdown"): str})
    def get(self, request: Request, pk: str) -> HttpResponse:
        pm = _postmortem(selectors.incident_or_404(pk))
        response = HttpResponse(
            postmortem_selectors.postmortem_markdown(pm), content_type="text/markdown; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{pm.incident.public_id}-postmortem.md"'
        return response


class ActionItemListView(APIView):
    """Action items across incidents, overdue first (``?status=open`` for open or in progress)."""

    write_role = "responder"

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=["", "open", *ActionItemStatus.values], description=ANY),
            OpenApiParameter("incident", str),
        ],
        responses=ActionItemSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        status_q = request.query_params.get("status") or None
        if status_q and status_q != "open" and status_q not in ActionItemStatus.values:
            return Response({"status": [f"must be open or one of {', '.join(ActionItemStatus.values)}"]}, status=400)
        incident = (
            selectors.incident_or_404(request.query_params["incident"])
            if request.query_params.get("incident")
            else None
        )
        items = postmortem_selectors.action_items(status=status_q, incident=incident)[:1000]
        return Response(ActionItemSerializer(items, many=True).data)

    @extend_schema(request=ActionItemCreateSerializer, responses={201: ActionItemSerializer})
    def post(self, request: Request) -> Response:
        data = validated(ActionItemCreateSerializer, request)
        if not data.get("incident"):
            return Response({"incident": ["is required"]}, status=400)
        try:
            incident = selectors.incident_get(data.pop("incident"))
        except Incident.DoesNotExist:
            return Response({"incident": ["no such incident"]}, status=400)
        item = postmortem_services.action_item_create(
            incident=incident, actor=request.user, title=data.pop("title", ""), **data
        )
        return Response(ActionItemSerializer(item).data, status=status.HTTP_201_CREATED)


class ActionItemDetailView(APIView):
    write_role = "responder"

    def _item(self, pk: int) -> ActionItem:
        item = ActionItem.objects.select_related("owner", "incident").filter(pk=pk).first()
        if item is None:
            raise Http404("no such action item")
        return item

    @extend_schema(responses=ActionItemSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ActionItemSerializer(self._item(pk)).data)

    @extend_schema(request=ActionItemWriteSerializer, responses=ActionItemSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        item = self._item(pk)
        data = validated(ActionItemWriteSerializer, request, partial=True)
        if "incident" in data:
            return Response({"incident": ["an action item cannot move to another incident"]}, status=400)
        postmortem_services.action_item_update(item=item, actor=request.user, **data)
        return Response(ActionItemSerializer(self._item(pk)).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        postmortem_services.action_item_delete(item=self._item(pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MetricsSummaryView(APIView):
    """MTTD, MTTA, time to mitigate and MTTR for incidents declared in ``[from, to)``."""

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="YYYY-MM-DD or ISO datetime; default 30 days before `to`"),
            OpenApiParameter("to", str, description="YYYY-MM-DD (inclusive) or ISO datetime; default now"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        since, until = metrics_selectors.parse_period(request.query_params.get("from"), request.query_params.get("to"))
        return Response(metrics_selectors.metrics_summary(since=since, until=until))
