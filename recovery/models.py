"""Recovery: the service catalog (RTO targets, recovery order), runtime flags the protected app polls
(read-only, maintenance), recovery plans, runs, drills and the objectives they measure."""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from pitchey_incidents.outcome import STATUS_BADGES

# --- the service catalog -------------------------------------------------------------------------


class Severity(models.TextChoices):
    P0 = "P0", "P0 – Critical"
    P1 = "P1", "P1 – Major"
    P2 = "P2", "P2 – Medium"
    P3 = "P3", "P3 – Low"


class RecoveryStage(models.IntegerChoices):
    """The runbook's recovery priorities, in order."""

    DATA_INTEGRITY = 1, "Restore data integrity"
    AUTHENTICATION = 2, "Restore authentication"
    CORE_API = 3, "Restore core API"
    FULL_SERVICE = 4, "Restore full service"
    PERFORMANCE = 5, "Optimize performance"


class Service(models.Model):
    """A service of the protected platform, with its RTO from the runbook."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    priority = models.CharField(max_length=2, choices=Severity.choices)
    rto_target_s = models.PositiveIntegerField()
    rto_max_s = models.PositiveIntegerField()
    recovery_order = models.PositiveSmallIntegerField(choices=RecoveryStage.choices)
    statuspage_component_id = models.CharField(
        max_length=40, blank=True, help_text="Its component id on Atlassian Statuspage (blank: not published)."
    )

    class Meta:
        # The table of the incidents app it was first declared in (moved without copying a row).
        db_table = "incidents_service"
        ordering = ["recovery_order", "priority", "name"]

    def __str__(self) -> str:
        return self.name


class RuntimeFlag(models.Model):
    """A switch the protected application reads from ``/api/v1/flags/`` (e.g. ``READ_ONLY_MODE``)."""

    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)
    changed_by = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    # Where the switch is on, per back end ({"cloudflare": {"on": true, "detail": …}, "postgres": …}):
    # what an undo turns off again, even after every process restarted.
    backends = models.JSONField(default=dict, blank=True)
    enabled_at = models.DateTimeField(null=True, blank=True)
    incident = models.CharField(max_length=20, blank=True, help_text="The incident that turned it on.")
    overdue_alerted_at = models.DateTimeField(null=True, blank=True)
    # A switch being changed now: claimed by a conditional update (``switch_claim`` empty → a token),
    # held while the back ends are called with no transaction open, released when they answered. A
    # claim older than ``SWITCH_CLAIM_TIMEOUT_S`` belonged to a process that was lost.
    switch_claim = models.CharField(max_length=32, blank=True)
    switching_to = models.CharField(max_length=3, blank=True)  # "on" / "off" while claimed
    switching_by = models.CharField(max_length=150, blank=True)
    switching_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}={'on' if self.enabled else 'off'}"

    @property
    def label(self) -> str:
        return {"READ_ONLY_MODE": "Read-only mode", "MAINTENANCE_MODE": "Maintenance mode"}.get(self.name, self.name)

    @property
    def backends_on(self) -> list[str]:
        return sorted(name for name, state in (self.backends or {}).items() if state.get("on"))

    @property
    def switching(self) -> bool:
        return bool(self.switch_claim)


class ControlRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partly done"
    FAILED = "failed", "Failed"


class ControlRun(models.Model):
    """One run of an emergency control or a mitigation action: the one audit trail of both.

    Written before the action starts (a crash leaves it ``running`` on record), finished with what
    each back end did and the exact requests sent (secrets masked). ``idempotency_key`` makes a
    double click run once; ``undo`` is the control (and its parameters) that reverses this run.
    """

    name = models.CharField(max_length=64)  # the control's or the action's name
    action = models.CharField(max_length=64)
    source = models.CharField(max_length=12, default="control")  # control | mitigation
    actor = models.CharField(max_length=150)
    incident = models.CharField(max_length=20, blank=True)
    params = models.JSONField(default=dict, blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=ControlRunStatus.choices, default=ControlRunStatus.RUNNING)
    output = models.TextField(blank=True)
    requests = models.JSONField(default=list, blank=True)
    backends = models.JSONField(default=dict, blank=True)
    data = models.JSONField(default=dict, blank=True)
    undo = models.JSONField(default=dict, blank=True)
    undone_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    idempotency_key = models.CharField(max_length=80, null=True, blank=True, unique=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    replayed = False  # set on the answer to a repeated request (same idempotency key)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} by {self.actor} ({self.status})"

    @property
    def ok(self) -> bool:
        return self.status == ControlRunStatus.SUCCEEDED

    @property
    def undo_available(self) -> bool:
        return bool(self.undo) and self.undone_by_id is None and not self.dry_run and self.status != "failed"


class OnFailure(models.TextChoices):
    ABORT = "abort", "Abort the run"
    CONTINUE = "continue", "Continue"
    FALLBACK = "fallback", "Run the fallback step"


class RecoveryPlan(models.Model):
    """A runbook procedure as data: ordered steps. ``full`` includes the service plans in recovery order."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    service = models.SlugField(blank=True, help_text="The catalog service this plan recovers (blank: several).")
    is_drill = models.BooleanField(default=False, help_text="A drill scenario: scratch resources only.")

    class Meta:
        ordering = ["is_drill", "slug"]

    def __str__(self) -> str:
        return self.name


class PlanStep(models.Model):
    plan = models.ForeignKey(RecoveryPlan, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.SlugField(help_text="Unique within the plan; fallbacks and references use it.")
    title = models.CharField(max_length=200)
    service = models.SlugField(blank=True)
    action = models.CharField(
        max_length=80, help_text="provider.action (e.g. neon.restart_endpoint), or include.PLAN / include.services"
    )
    params = models.JSONField(default=dict, blank=True)
    on_failure = models.CharField(max_length=10, choices=OnFailure.choices, default=OnFailure.ABORT)
    fallback = models.SlugField(blank=True, help_text="Name of the step to run when this one fails.")
    only_as_fallback = models.BooleanField(default=False, help_text="Runs only when another step falls back to it.")
    requires = models.SlugField(blank=True, help_text="Runs only if this named step succeeded.")
    always = models.BooleanField(default=False, help_text="Runs even after an abort (removes scratch resources).")
    verify_action = models.CharField(max_length=80, blank=True, help_text="Verification probe, provider.action.")
    verify_params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["plan", "position"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "position"], name="plan_step_position"),
            models.UniqueConstraint(fields=["plan", "name"], name="plan_step_name"),
        ]

    def __str__(self) -> str:
        return f"{self.plan.slug}#{self.position} {self.name}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    INCONCLUSIVE = "inconclusive", "Inconclusive"
    CANCELLED = "cancelled", "Cancelled"


# How each finished state is shown everywhere (pages, reports, CLI): a word, an icon and a colour class.


class RunKind(models.TextChoices):
    RUN = "run", "Recovery run"
    DRILL = "drill", "Drill"


class RecoveryRun(models.Model):
    """One execution of a plan (or a drill scenario); its steps are copied in at creation."""

    kind = models.CharField(max_length=5, choices=RunKind.choices, default=RunKind.RUN)
    plan = models.SlugField()
    scenario = models.SlugField(blank=True)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    dry_run = models.BooleanField(default=False)
    incident = models.CharField(max_length=20, blank=True, db_index=True, help_text="Public id, e.g. INC-00001.")
    incident_declared_at = models.DateTimeField(null=True, blank=True, help_text="RTO clock start.")
    incident_started_at = models.DateTimeField(null=True, blank=True, help_text="Data after this is at risk (RPO).")
    requested_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    deviated = models.BooleanField(default=False)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    steady_state = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    missing = models.JSONField(
        default=list, blank=True, help_text="What to configure: [{what, hint}] of the steps skipped for it."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.id} {self.plan} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("recovery:run", args=[self.id])

    @property
    def subject(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def clock_start(self):
        """RTO clock start: the incident's detection for a run tied to one, else the run's start."""
        return self.incident_started_at or self.incident_declared_at or self.started_at

    @property
    def status_icon(self) -> str:
        return STATUS_BADGES.get(self.status, ("",))[0]

    @property
    def scheduled(self) -> bool:
        return self.requested_by == "beat"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


class RunStep(models.Model):
    run = models.ForeignKey(RecoveryRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    title = models.CharField(max_length=200)
    service = models.SlugField(blank=True)
    action = models.CharField(max_length=80)
    params = models.JSONField(default=dict, blank=True)
    on_failure = models.CharField(max_length=10, choices=OnFailure.choices, default=OnFailure.ABORT)
    fallback = models.CharField(max_length=100, blank=True)
    only_as_fallback = models.BooleanField(default=False)
    requires = models.CharField(max_length=100, blank=True)
    always = models.BooleanField(default=False)
    verify_action = models.CharField(max_length=80, blank=True)
    verify_params = models.JSONField(default=dict, blank=True)
    idempotent = models.BooleanField(default=False)
    triggered = models.BooleanField(default=False, help_text="A failed step fell back to this one.")
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    output = models.TextField(blank=True)
    verify_output = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="run_step_position")]

    def __str__(self) -> str:
        return f"run {self.run_id} #{self.position} {self.name} ({self.status})"

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return round((self.finished_at - self.started_at).total_seconds(), 3)
        return None


class Objective(models.Model):
    """One measured objective of a run: RTO of a service or RPO of a data type, against its targets."""

    class Kind(models.TextChoices):
        RTO = "rto", "RTO"
        RPO = "rpo", "RPO"

    run = models.ForeignKey(RecoveryRun, on_delete=models.CASCADE, related_name="objectives")
    kind = models.CharField(max_length=3, choices=Kind.choices)
    subject = models.SlugField(help_text="Service slug (RTO) or data type slug (RPO).")
    name = models.CharField(max_length=100, blank=True)
    target_s = models.PositiveIntegerField()
    max_s = models.PositiveIntegerField()
    achieved_s = models.FloatField(null=True, blank=True)
    met = models.BooleanField(null=True)

    class Meta:
        ordering = ["run", "kind", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "kind", "subject"], name="one_objective_per_subject")]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}: {self.achieved_s} / {self.target_s}"
