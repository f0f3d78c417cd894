"""The detection drill (the runbook's scenario 2, "generate errors → check mitigation triggered"):
recovery's ``detection.scenario`` step calls ``detection_drill`` through ``recovery.hooks``.

The drill serves a scratch health endpoint of its own on 127.0.0.1 and watches it with a scratch probe
(disabled, so beat's detection never sees it) and a scratch rule. The endpoint's health follows what is
really deployed on the scratch Worker (``DRILL_CF_WORKER_NAME``, never ``CF_WORKER_NAME``):

- errors are injected by marking the scratch Worker's live version bad: while it is live, the endpoint
  answers 500; a version that was deployed before it answers 200; a version the drill's own chain made
  (a maintenance secret) answers 503, the maintenance page;
- the scratch rule carries the seeded error-rate rule's chain retargeted at the scratch Worker (redeploy
  → roll back → maintenance as the scratch Worker's secret), run for real: the redeploy leaves the bad
  version live, the rollback deploys the one before, the endpoint recovers because of it, the verify
  passes and the incident resolves by itself;
- afterwards the scratch Worker is put back: the chain's undos run (maintenance secret deleted, forward
  again), then its version from before is deployed if it is still not live, and the drill checks that
  it is live and that its secrets are as before.

Without a scratch Worker the drill proves what it can (the rule fires, the incident opens), runs no
chain and says what to set: ``inconclusive``, never green. The scratch probe and rule are deleted
afterwards; the incident and its timeline stay as the evidence."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings

from incidents.detection.assessment import assess, probe_run
from incidents.detection.defaults import API_CHAIN
from incidents.detection.models import AssessmentRule, ChainState, DetectionCase, Probe, ProbeKind
from incidents.detection.probes.http import health_sample
from incidents.detection.services import detect_finding
from incidents.lifecycle import services as lifecycle
from incidents.lifecycle.models import Incident
from pitchey_incidents.http import TransportError
from recovery import hooks
from recovery.controls import action_execute, control_undo, open_undos
from recovery.models import Service
from recovery.providers import get_provider

SEEDED_RULE = "High error rate (health endpoints)"
ERRORS_INJECTED = 20
ACTOR = "system"
# The chain's steps that have a scratch target; any other step acts on the platform and is left out.
RETARGETED = ("restart_worker", "rollback_deploy", "enable_maintenance")
MAINTENANCE_SECRET = "MAINTENANCE_MODE"
NOT_CONFIGURED = {
    "what": "a scratch Cloudflare Worker for the chain to act on",
    "hint": "set DRILL_CF_WORKER_NAME (a scratch Worker, not CF_WORKER_NAME), CF_ACCOUNT_ID and CF_API_TOKEN",
}


class ScratchEndpoint:
    """A health endpoint the drill serves: each answer's status is ``status()``."""

    def __init__(self, status: Callable[[], int]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status())
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


@dataclass(frozen=True)
class Scratch:
    """The scratch Worker as the drill found it: its live version (marked bad), the versions deployed
    before it (good), its secrets' names."""

    worker: str
    bad: str
    good: frozenset[str]
    secrets: tuple[str, ...]


def scratch_worker() -> str:
    """The scratch Worker the chain may act on, or ``""`` when none is configured."""
    configured = settings.CF_API_TOKEN and settings.CF_ACCOUNT_ID
    return settings.DRILL_CF_WORKER_NAME if configured and not get_provider("cloudflare").scratch_refusal() else ""


def _scratch_state(worker: str) -> tuple[Scratch | None, str]:
    cloudflare = get_provider("cloudflare")
    try:
        deployed = cloudflare.deployed_versions(worker)
        names = tuple(cloudflare.secret_names(worker))
    except TransportError as exc:
        return None, f"scratch Worker {worker}: {exc.message}"
    live = deployed[0] if deployed else ""
    good = frozenset(v for v in deployed if v and v != live)
    if not good:
        return None, f"scratch Worker {worker} has no version deployed before {live or '(none)'}: deploy it twice"
    return Scratch(worker, live, good, names), ""


def _follow(scratch: Scratch) -> Callable[[], int]:
    """The endpoint's health from the scratch Worker's live version, read from Cloudflare each time."""
    cloudflare = get_provider("cloudflare")

    def status() -> int:
        try:
            live = cloudflare.live_version(scratch.worker)
        except TransportError:
            return 503
        if live == scratch.bad:
            return 500
        return 200 if live in scratch.good else 503  # a version the chain made: the maintenance page

    return status


def _chain(scratch: Scratch | None) -> tuple[list[dict], list[dict]]:
    """The seeded rule's chain retargeted at the scratch Worker (no dry runs), and the steps left out."""
    seeded = AssessmentRule.objects.filter(name=SEEDED_RULE).values_list("chain", flat=True).first() or API_CHAIN
    if scratch is None:
        return [], [{"action": s["action"], "why": "no scratch Worker"} for s in seeded]
    chain, left_out = [], []
    for step in seeded:
        action = step["action"]
        if action not in RETARGETED:
            left_out.append({"action": action, "why": "it acts on the platform: it has no scratch target"})
        elif action == "enable_maintenance" and MAINTENANCE_SECRET in scratch.secrets:
            left_out.append({"action": action, "why": f"the scratch Worker has {MAINTENANCE_SECRET} set already"})
        else:
            chain.append({"action": action, "params": {**(step.get("params") or {}), "scratch": True}})
    return chain, left_out


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
    scratch, worker = None, scratch_worker()
    if worker:
        scratch, why = _scratch_state(worker)
        if scratch is None:
            return {"ok": False, "output": why, "data": {"worker": worker}, "missing": []}
    chain, left_out = _chain(scratch)
    endpoint = ScratchEndpoint(_follow(scratch) if scratch else lambda: 500)
    probe, rule = _scratch(endpoint, chain)
    answer = {"ok": False, "output": "the drill stopped before it finished", "data": {}}
    try:
        answer = _scenario(endpoint, probe, rule, scratch)
    finally:
        endpoint.close()
        answer = _finish(answer, rule, scratch)
        rule.delete()
        probe.delete()
    answer["data"]["left_out"] = left_out
    return answer | {"missing": [] if scratch else [NOT_CONFIGURED]}


def _inject(endpoint: ScratchEndpoint, probe: Probe, scratch: Scratch | None):
    for _ in range(ERRORS_INJECTED):
        health_sample(probe)
    outcome, _ = probe_run(probe)
    data = {"injected": ERRORS_INJECTED, "error_rate": outcome.data.get("error_rate"), "endpoint": endpoint.url}
    if scratch:
        data |= {"worker": scratch.worker, "marked_bad": scratch.bad, "good": sorted(scratch.good)}
    return outcome, data


def _scenario(endpoint: ScratchEndpoint, probe: Probe, rule: AssessmentRule, scratch: Scratch | None) -> dict:
    outcome, data = _inject(endpoint, probe, scratch)
    if assess(probe, outcome, [rule]) is None:
        return {"ok": False, "output": f"the rule did not fire: {outcome.output}", "data": data}
    issue, _ = detect_finding(rule, probe, outcome, inline=True)
    case = DetectionCase.objects.select_related("incident").get(rule=rule)
    data |= {"incident": issue.incident, "mitigations": issue.mitigations, "outcome": issue.outcome}
    found = f"{ERRORS_INJECTED} errors injected (error rate {data['error_rate']:.0%}) → {issue.incident} opened"
    if scratch is None:
        _note(case.incident, f"DR drill: no automated chain run: no scratch Worker ({NOT_CONFIGURED['hint']})")
        # What this run proves stops here: the provider reports it inconclusive and names what to set.
        return {"ok": True, "output": f"{found}; the chain was not run: no scratch Worker", "data": data}
    data["live_at_end"] = _live(scratch.worker)
    resolved = case.chain_state == ChainState.RESOLVED and not case.incident.is_open
    fixed = data["live_at_end"] in scratch.good
    ran = [f"{m['action']}: {m['status']}" for m in issue.mitigations]
    output = (
        f"{found} (live version {scratch.bad} of scratch Worker {scratch.worker} marked bad); "
        f"chain: {', '.join(ran) or 'none ran'}; live version then {data['live_at_end'] or 'unknown'}; "
        f"incident {issue.outcome}" + ("" if resolved else " (not resolved by the chain)")
    )
    return {"ok": resolved and fixed and bool(ran), "output": output, "data": data}


def _live(worker: str) -> str:
    try:
        return get_provider("cloudflare").live_version(worker)
    except TransportError:
        return ""


def _note(incident: Incident, message: str) -> None:
    lifecycle.incident_note(incident=incident, actor=ACTOR, kind="automation", message=message)


def _finish(answer: dict, rule: AssessmentRule, scratch: Scratch | None) -> dict:
    """Put the scratch Worker back, close the drill's case, and end its incident if the chain did not."""
    case = DetectionCase.objects.select_related("incident").filter(rule=rule).first()
    DetectionCase.objects.filter(rule=rule).update(open=False)
    if case is None:
        return answer
    if scratch is not None:
        restored = _restore(scratch, case.incident)
        answer = answer | {"ok": answer["ok"] and restored["ok"], "output": f"{answer['output']}; {restored['output']}"}
        answer["data"] = answer["data"] | {"restored": restored}
    incident = Incident.objects.get(id=case.incident_id)
    if incident.is_open:
        why = "the automated chain did not resolve it" if scratch else "no chain ran (no scratch Worker)"
        lifecycle.incident_resolve(incident=incident, resolution=f"DR drill over: {why}", actor=ACTOR)
    return answer


def _put_back(scratch: Scratch, incident: str) -> list[str]:
    """Undo what the chain did to the scratch Worker, newest first (the maintenance secret deleted,
    forward again after the rollback); then deploy its version from before if it is still not live."""
    done = []
    for run in open_undos(incident=incident):
        undo = control_undo(run_id=run.id, actor=ACTOR)
        done.append(f"{run.undo.get('label', 'undo')}: {undo.status}")
    if _live(scratch.worker) != scratch.bad:
        params = {"version_id": scratch.bad, "scratch": True}
        run = action_execute(action="deploy_worker_version", params=params, actor=ACTOR, incident=incident)
        done.append(f"forward to {scratch.bad}: {run.status}")
    return done


def _restore(scratch: Scratch, incident: Incident) -> dict:
    """Put the scratch Worker back and check it is as it was: its live version and its secrets."""
    try:
        done = _put_back(scratch, incident.public_id)
        live, names = _live(scratch.worker), tuple(get_provider("cloudflare").secret_names(scratch.worker))
    except TransportError as exc:
        done, live, names = [f"stopped: {exc.message}"], "", ("(unknown)",)
    ok = live == scratch.bad and names == scratch.secrets
    state = f"live version {live or 'unknown'}, secrets: {', '.join(names) or 'none'}"
    verdict = "restored as before the drill" if ok else f"NOT as before the drill (it had {scratch.bad} live)"
    output = f"scratch Worker {scratch.worker} {verdict} ({'; '.join(done) or 'nothing to undo'}; now {state})"
    _note(incident, f"DR drill clean-up: {output}")
    return {"ok": ok, "output": output, "live": live, "secrets": list(names), "steps": done}


def connect() -> None:
    hooks.register("detection_drill", detection_drill)
