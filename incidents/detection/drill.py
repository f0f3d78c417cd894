"""The detection drill (the runbook's scenario 2, "generate errors → check mitigation triggered"):
recovery's ``detection.scenario`` step calls ``detection_drill`` through ``recovery.hooks``.

The drill serves a scratch health endpoint of its own on 127.0.0.1 that answers 500, watches it with a
scratch probe (disabled, so beat's detection never sees it) and a scratch rule carrying the seeded
error-rate rule's chain as dry runs (the platform is not touched: a dry run of ``restart_worker`` reads
the Worker's deployments and deploys nothing), injects errors, and checks that the rule fires, the first
mitigation runs, the endpoint recovers, the verify passes and the incident resolves by itself. The
scratch probe and rule are deleted afterwards; the incident and its timeline stay as the evidence."""

from __future__ import annotations

import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from incidents.detection.assessment import assess, probe_run
from incidents.detection.defaults import API_CHAIN
from incidents.detection.models import AssessmentRule, ChainState, DetectionCase, Probe, ProbeKind
from incidents.detection.probes.http import health_sample
from incidents.detection.services import detect_finding
from incidents.lifecycle.models import Mitigation, MitigationStatus
from recovery import hooks
from recovery.actions import get_action
from recovery.models import Service

SEEDED_RULE = "High error rate (health endpoints)"
ERRORS_INJECTED = 20


class ScratchEndpoint:
    """A health endpoint the drill serves: 500 until ``healthy`` is set."""

    def __init__(self) -> None:
        self.healthy = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if outer.healthy else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _chain() -> list[dict]:
    seeded = AssessmentRule.objects.filter(name=SEEDED_RULE).values_list("chain", flat=True).first()
    return [{**step, "dry_run": True} for step in (seeded or API_CHAIN)]


def _missing(chain: list[dict]) -> list[dict]:
    """The chain's steps that cannot run here: the drill proves less, and says what to set."""
    missing = []
    for step in chain:
        ok, why = get_action(step["action"]).available()
        if not ok:
            missing.append({"what": f"{step['action']} ({get_action(step['action']).label})", "hint": why})
    return missing


def _scratch(endpoint: ScratchEndpoint, chain: list[dict]) -> tuple[Probe, AssessmentRule]:
    token = secrets.token_hex(4)
    service = Service.objects.filter(slug="api").first() or Service.objects.order_by("id").first()
    probe = Probe.objects.create(
        name=f"drill-detection-{token}",
        label="drill scratch endpoint",
        kind=ProbeKind.HTTP,
        service=service,
        config={"url": endpoint.url, "window_s": 300, "timeout_s": 3},
        enabled=False,  # beat's detection never runs it
    )
    rule = AssessmentRule.objects.create(
        name=f"[DR drill] High error rate on a scratch endpoint ({token})",
        probe_kind=ProbeKind.HTTP,
        probe_name=probe.name,
        op="gt",
        metric="error_rate",
        threshold=0.05,
        severity="P3",
        chain=chain,
        settle_s=1,
        enabled=False,  # only this drill assesses against it
    )
    return probe, rule


def detection_drill() -> dict:
    """Run the scenario; ``{ok, output, data, missing}`` (``missing``: what to configure for a full proof)."""
    if Service.objects.count() == 0:
        return {"ok": False, "output": "no service in the catalog", "data": {}, "missing": []}
    chain = _chain()
    missing = _missing(chain)
    endpoint = ScratchEndpoint()
    probe, rule = _scratch(endpoint, chain)
    try:
        return _scenario(endpoint, probe, rule) | {"missing": missing}
    finally:
        endpoint.close()
        DetectionCase.objects.filter(rule=rule).update(open=False)
        rule.delete()
        probe.delete()


def _scenario(endpoint: ScratchEndpoint, probe: Probe, rule: AssessmentRule) -> dict:
    for _ in range(ERRORS_INJECTED):
        health_sample(probe)
    outcome, _ = probe_run(probe)
    data = {"injected": ERRORS_INJECTED, "error_rate": outcome.data.get("error_rate"), "endpoint": endpoint.url}
    if assess(probe, outcome, [rule]) is None:
        return {"ok": False, "output": f"the rule did not fire: {outcome.output}", "data": data}

    def settle(seconds: float) -> None:
        """The endpoint recovers once a mitigation of the drill's incident has run."""
        case = DetectionCase.objects.filter(rule=rule).first()
        if case and Mitigation.objects.filter(incident_id=case.incident_id, status=MitigationStatus.SUCCEEDED).exists():
            endpoint.healthy = True
        time.sleep(seconds)

    issue, _ = detect_finding(rule, probe, outcome, inline=True, sleep=settle)
    case = DetectionCase.objects.select_related("incident").get(rule=rule)
    ran = [f"{m['action']} (dry run): {m['status']}" for m in issue.mitigations]
    data |= {"incident": issue.incident, "mitigations": issue.mitigations, "outcome": issue.outcome}
    resolved = case.chain_state == ChainState.RESOLVED and not case.incident.is_open
    output = (
        f"{ERRORS_INJECTED} errors injected (error rate {data['error_rate']:.0%}) → {issue.incident} opened by "
        f"the rule; mitigation: {', '.join(ran) or 'none ran'}; incident {issue.outcome}"
    )
    return {"ok": resolved and bool(ran), "output": output, "data": data}


def connect() -> None:
    hooks.register("detection_drill", detection_drill)
