from __future__ import annotations

from rest_framework import serializers

from .. import selectors
from ..models import RecoveryRun


class RunStepSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    service = serializers.CharField()
    action = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    output = serializers.CharField()


class MissingSerializer(serializers.Serializer):
    what = serializers.CharField()
    hint = serializers.CharField()


class RecoveryRunSerializer(serializers.ModelSerializer):
    """``status`` is ``succeeded`` only when every proof step ran and verified; ``inconclusive`` when
    one was skipped because something is not configured (``missing`` names it); ``failed`` otherwise."""

    missing = MissingSerializer(many=True, read_only=True)
    steps = RunStepSerializer(many=True, read_only=True)
    rto = serializers.SerializerMethodField()
    rpo = serializers.SerializerMethodField()
    report_url = serializers.SerializerMethodField()

    class Meta:
        model = RecoveryRun
        fields = [
            "id",
            "plan",
            "status",
            "dry_run",
            "incident",
            "started_at",
            "finished_at",
            "steps",
            "rto",
            "rpo",
            "summary",
            "missing",
            "report_url",
        ]

    def _objectives(self, run, kind):
        return [o for o in run.objectives.all() if o.kind == kind]

    def get_rto(self, run) -> list[dict]:
        return [
            {"service": o.subject, "target_s": o.target_s, "max_s": o.max_s, "achieved_s": o.achieved_s, "met": o.met}
            for o in self._objectives(run, "rto")
        ]

    def get_rpo(self, run) -> list[dict]:
        return [
            {"data_type": o.subject, "target_s": o.target_s, "max_s": o.max_s, "achieved_s": o.achieved_s, "met": o.met}
            for o in self._objectives(run, "rpo")
        ]

    def get_report_url(self, run) -> str:
        request = self.context.get("request")
        url = run.get_absolute_url() + "report/"
        return request.build_absolute_uri(url) if request else url


class DrillSerializer(RecoveryRunSerializer):
    class Meta(RecoveryRunSerializer.Meta):
        fields = [*RecoveryRunSerializer.Meta.fields, "scenario", "deviated"]


class StartRunSerializer(serializers.Serializer):
    plan = serializers.ChoiceField(choices=(), help_text="A recovery plan's slug (the catalog's plans)")
    incident = serializers.CharField(required=False, allow_blank=True, max_length=20)
    dry_run = serializers.BooleanField(required=False, default=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = selectors.plan_slugs(is_drill=False)  # plans live in the catalog


class StartDrillSerializer(serializers.Serializer):
    scenario = serializers.ChoiceField(choices=(), help_text="A drill scenario's slug")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scenario"].choices = selectors.plan_slugs(is_drill=True)


class ControlRequestSerializer(serializers.Serializer):
    params = serializers.DictField(required=False, default=dict)
    dry_run = serializers.BooleanField(required=False, default=False)
    incident = serializers.CharField(required=False, allow_blank=True, default="", max_length=20)


class SwitchingSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=["on", "off"])
    by = serializers.CharField()
    since = serializers.DateTimeField()


class ControlStateSerializer(serializers.Serializer):
    name = serializers.CharField()
    action = serializers.CharField()
    title = serializers.CharField()
    group = serializers.CharField()
    configured = serializers.BooleanField()
    hint = serializers.CharField()
    state = serializers.CharField(help_text="on / off for the switches, empty for the others")
    switching = SwitchingSerializer(allow_null=True, help_text="A switch being turned on or off now, else null")
    undo = serializers.CharField(help_text="How a run of it is undone, in words")


class ControlRequestSentSerializer(serializers.Serializer):
    method = serializers.CharField()
    url = serializers.CharField()
    body = serializers.JSONField(allow_null=True)
    sent = serializers.BooleanField()


class ControlRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    action = serializers.CharField()
    source = serializers.ChoiceField(choices=["control", "mitigation"])
    actor = serializers.CharField()
    incident = serializers.CharField(allow_null=True)
    dry_run = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["running", "succeeded", "partial", "failed"])
    requests = ControlRequestSentSerializer(many=True)
    backends = serializers.DictField()
    result = serializers.DictField()
    undo = serializers.DictField(allow_null=True)
    replayed = serializers.BooleanField(help_text="True: the answer of an earlier request with this Idempotency-Key")
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
