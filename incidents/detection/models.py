"""Detection data: alert sources, alert groups and alerts, probes and their results, assessment rules.

Imported by ``incidents.models`` so that Django registers these models with the app.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.lifecycle.models import Incident, Mitigation
from pitchey_incidents.errors import DomainError
from recovery.actions import REGISTRY
from recovery.models import Service, Severity


class AlertSourceKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    GRAFANA = "grafana", "Grafana Alerting"
    GENERIC = "generic", "Generic webhook"


def default_severity_map() -> dict:
    return {"critical": "P1", "page": "P1", "error": "P2", "warning": "P2", "info": "P3"}


class AlertSource(models.Model):
    """Something that sends us alerts, with its own secret (only its SHA-256 is stored)."""

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=20, choices=AlertSourceKind.choices)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    severity_label = models.CharField(max_length=64, default="severity")
    severity_map = models.JSONField(default=default_severity_map, help_text="Label value → P0..P3.")
    default_severity = models.CharField(max_length=2, choices=Severity.choices, default=Severity.P3)
    group_by = models.JSONField(
        default=list, blank=True, help_text="Label names forming the group; empty = the sender's groupKey."
    )
    auto_resolve_after_s = models.PositiveIntegerField(
        null=True, blank=True, help_text="Resolve the incident this long after every alert resolved (empty = never)."
    )
    signing_secret_env = models.CharField(
        max_length=64, blank=True, help_text="Grafana: environment variable holding the HMAC signing secret."
    )
    timestamp_header = models.CharField(
        max_length=64, blank=True, help_text="Grafana: header carrying the signed timestamp, when configured."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def severity_for(self, labels: dict) -> str:
        value = str(labels.get(self.severity_label, "")).strip().lower()
        mapped = {str(k).lower(): v for k, v in (self.severity_map or {}).items()}.get(value)
        return mapped if mapped in Severity.values else self.default_severity


class AlertGroup(models.Model):
    """Alerts that belong to one incident. At most one open group per (source, key): the partial
    unique index is what keeps concurrent deliveries of a new group to a single incident."""

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="groups")
    key = models.CharField(max_length=255)
    incident = models.ForeignKey(Incident, null=True, on_delete=models.SET_NULL, related_name="alert_groups")
    open = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_alert_at = models.DateTimeField(default=timezone.now)
    all_resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "key"], condition=Q(open=True), name="one_open_group_per_key")
        ]
        indexes = [models.Index(fields=["open", "all_resolved_at"], name="alertgroup_open_resolved")]

    def __str__(self) -> str:
        return f"{self.source.name}:{self.key[:40]}"


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """One alert, identified by its fingerprint (or dedup key) within its group."""

    group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="alerts")
    identity = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=AlertStatus.choices)
    severity = models.CharField(max_length=2, choices=Severity.choices)
    summary = models.CharField(max_length=500, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    received = models.PositiveIntegerField(default=1, help_text="Deliveries of this alert.")
    # Set when the resolution has been written to the incident's timeline (claimed by an UPDATE).
    resolution_noted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["first_seen", "id"]
        constraints = [models.UniqueConstraint(fields=["group", "identity"], name="one_alert_per_identity")]

    def __str__(self) -> str:
        return f"{self.identity[:24]} {self.status}"


class ProbeKind(models.TextChoices):
    POSTGRES = "postgres", "PostgreSQL"
    REDIS = "redis", "Redis"
    HTTP = "http", "HTTP endpoint"
    PROMETHEUS = "prometheus", "Prometheus query"
    BACKUP_RPO = "backup_rpo", "Backup age against the RPO"
    CLOUDFLARE = "cloudflare", "Cloudflare Workers analytics"


class Probe(models.Model):
    """One health check of the protected platform, belonging to a catalog service."""

    name = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=100, help_text='Printed as "Checking <label>...".')
    kind = models.CharField(max_length=20, choices=ProbeKind.choices)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="probes")
    config = models.JSONField(default=dict, blank=True, help_text="Kind-specific settings and thresholds.")
    enabled = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=100, help_text="Order in detect's output.")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class ProbeStatus(models.TextChoices):
    OK = "ok", "OK"
    DEGRADED = "degraded", "Degraded"
    DOWN = "down", "Down"
    SKIPPED = "skipped", "Not configured"


class ProbeResult(models.Model):
    """History of a probe, for the health API and charts."""

    probe = models.ForeignKey(Probe, on_delete=models.CASCADE, related_name="results")
    at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=ProbeStatus.choices)
    latency_ms = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["probe", "-at"], name="proberesult_probe_at")]

    def __str__(self) -> str:
        return f"{self.probe_id} {self.status} {self.at:%H:%M:%S}"


class HealthSample(models.Model):
    """One request to a health endpoint (an HTTP probe's URL), taken on beat's cadence or by a check.

    An HTTP probe's error rate and latency percentiles are computed over these rows in a window;
    rows older than the window's keep time are pruned."""

    probe = models.ForeignKey(Probe, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty: no answer.")
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["probe", "-at"], name="healthsample_probe_at")]

    def __str__(self) -> str:
        return f"{self.probe_id} {self.status_code or self.error[:20]} {self.at:%H:%M:%S}"


def clean_chain(chain: object) -> list[dict]:
    """A rule's automated chain: ``[{"action": name, "params": {…}}, …]`` of registered actions. A step
    may say ``"only_if_unavailable": other`` (run only when ``other`` cannot run here) or ``"dry_run":
    true`` (the detection drill's copy of a chain: the platform is not touched)."""
    if not isinstance(chain, list):
        raise ValidationError({"chain": "must be a list of steps"})
    cleaned = []
    for position, step in enumerate(chain):
        if not isinstance(step, dict) or not isinstance(step.get("action"), str):
            raise ValidationError({"chain": f"step {position + 1}: must be {{'action': name, 'params': {{}}}}"})
        if step["action"] not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            raise ValidationError({"chain": f"step {position + 1}: unknown action; one of {known}"})
        try:
            params = REGISTRY[step["action"]].clean(step.get("params") or {})
        except DomainError as exc:
            raise ValidationError({"chain": f"step {position + 1}: {exc.message}"}) from None
        other = step.get("only_if_unavailable")
        if other is not None and other not in REGISTRY:
            raise ValidationError({"chain": f"step {position + 1}: only_if_unavailable names an unknown action"})
        extra = {"only_if_unavailable": other} if other else {}
        cleaned.append(
            {"action": step["action"], "params": params, **extra, **({"dry_run": True} if step.get("dry_run") else {})}
        )
    return cleaned


class RuleOp(models.TextChoices):
    DOWN = "down", "is unreachable"
    GT = "gt", "is above"
    LT = "lt", "is below"


class AssessmentRule(models.Model):
    """Maps a probe finding to a severity and the runbook's automated chain of mitigations.

    A rule matches a probe result when the probe has the rule's kind (and name, when set) and the
    finding holds: the probe is down, or ``metric`` is above/below ``threshold``. The most severe
    matching rule wins. Each step of ``chain`` is followed by a verify (the probe re-sampled after
    ``settle_s``): the incident resolves, or the next step runs; past the last step it escalates. A
    rule without a chain says why in ``no_chain_reason``."""

    name = models.CharField(max_length=100, unique=True, help_text='"Issue detected: <name>".')
    probe_kind = models.CharField(max_length=20, choices=ProbeKind.choices)
    probe_name = models.CharField(max_length=64, blank=True, help_text="Only this probe (empty = any of the kind).")
    op = models.CharField(max_length=4, choices=RuleOp.choices)
    metric = models.CharField(max_length=64, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    severity = models.CharField(max_length=2, choices=Severity.choices)
    chain = models.JSONField(
        default=list,
        blank=True,
        help_text='Mitigations tried in order, each verified: [{"action": "restart_worker", "params": {}}, …] '
        "(see /api/v1/actions/).",
    )
    settle_s = models.PositiveIntegerField(default=30, help_text="Wait after a step before verifying it.")
    no_chain_reason = models.CharField(max_length=300, blank=True, help_text="Why there is no automated chain.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["severity", "name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.severity}"

    def clean(self) -> None:
        if self.op != RuleOp.DOWN and (not self.metric or self.threshold is None):
            raise ValidationError({"threshold": "a metric and a threshold are needed unless the rule is 'down'"})
        self.chain = clean_chain(self.chain)
        if not self.chain and not self.no_chain_reason.strip():
            raise ValidationError({"no_chain_reason": "say why this rule has no automated chain"})

    @property
    def actions(self) -> list[str]:
        return [step["action"] for step in self.chain or []]


class ChainState(models.TextChoices):
    NONE = "", "No chain"
    MITIGATING = "mitigating", "Running a step"
    SETTLING = "settling", "Waiting to verify"
    RESOLVED = "resolved", "Resolved by the chain"
    ESCALATED = "escalated", "Chain exhausted, escalated"
    STOPPED = "stopped", "Stopped (the incident closed)"


class DetectionCase(models.Model):
    """The incident a rule opened for a service; an open case is updated, never duplicated.

    It is also the row of truth of the rule's automated chain: which step, its mitigation, when the
    next thing is due and which worker holds it (a lease; a worker killed mid-chain is swept)."""

    rule = models.ForeignKey(AssessmentRule, on_delete=models.CASCADE, related_name="cases")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="detection_cases")
    open = models.BooleanField(default=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    hits = models.PositiveIntegerField(default=1)
    probe = models.ForeignKey(Probe, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    chain_state = models.CharField(max_length=10, choices=ChainState.choices, default="", blank=True)
    chain_step = models.PositiveSmallIntegerField(default=0)
    chain_mitigation = models.ForeignKey(Mitigation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    chain_due_at = models.DateTimeField(null=True, blank=True)
    chain_lease_until = models.DateTimeField(null=True, blank=True)
    chain_verify_from = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "service"], condition=Q(open=True), name="one_open_case_per_rule")
        ]
        indexes = [models.Index(fields=["chain_state", "chain_due_at"], name="detectioncase_chain_due")]

    def __str__(self) -> str:
        return f"{self.rule.name} on {self.service.slug}"
