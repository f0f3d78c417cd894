"""Cloudflare API v4: purge the edge cache, roll a Worker back or redeploy it, set Worker secrets.

Workers have no rollback call: we list deployments (the first is live) and deploy another version at
100 %. Cloudflare refuses a deployment that would drop a newer one's settings with error 10220; then
we retry with ``?force=true`` as its docs say.
"""

from __future__ import annotations

from django.conf import settings

from pitchey_incidents import http
from pitchey_incidents.http import TransportError

from .. import runcontext
from .base import ApiProvider, Outcome, register

FORCE_REQUIRED = 10220
# Workers analytics (GraphQL Analytics API): requests, errors and CPU time of one script in a window.
WORKERS_ANALYTICS_QUERY = """
query WorkerTotals($accountTag: string!, $scriptName: string!, $since: Time!, $until: Time!) {
  viewer {
    accounts(filter: {accountTag: $accountTag}) {
      workersInvocationsAdaptive(
        limit: 100
        filter: {scriptName: $scriptName, datetime_geq: $since, datetime_leq: $until}
      ) {
        sum { requests errors subrequests }
        quantiles { cpuTimeP50 cpuTimeP99 }
      }
    }
  }
}
""".strip()
# "The latest version isn't currently deployed": a secret edit needs the latest version live first.
LATEST_NOT_DEPLOYED = ("10215", "10214")
PURGE_KINDS = ("files", "tags", "hosts", "prefixes")
SECRET_NAMES = ("MAINTENANCE_MODE", "READ_ONLY_MODE", "DATABASE_URL")


@register
class Cloudflare(ApiProvider):
    name = "cloudflare"
    label = "Cloudflare"
    idempotent = frozenset({"purge_cache", "set_secret", "redeploy_worker"})

    def available(self):
        return (True, "") if settings.CF_API_TOKEN else (False, "set CF_API_TOKEN")

    def _url(self, path: str) -> str:
        return settings.CLOUDFLARE_API_URL.rstrip("/") + path

    def _preview(self, method: str, path: str, body: dict | None = None) -> None:
        runcontext.record(method, self._url(path), body, sent=False)

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        url = self._url(path)
        if method != "GET":
            runcontext.record(method, url, body)
        headers = {"Authorization": f"Bearer {settings.CF_API_TOKEN}", "Content-Type": "application/json"}
        answer = self._with_retries(lambda: http.request(method, url, json=body, headers=headers)).json or {}
        if not answer.get("success", False):
            errors = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in answer.get("errors", []))
            raise TransportError(f"{method} {path.split('?')[0]}: {errors or 'success=false'}", permanent=True)
        return answer.get("result") or {}

    def workers_analytics(self, since: str, until: str, worker: str = "") -> dict:
        """Totals of the Worker between two RFC 3339 times: requests, errors, error_rate, CPU p50/p99 (µs).

        Raises ``TransportError`` when the API refuses (HTTP error after retries, or GraphQL ``errors``)."""
        worker = worker or settings.CF_WORKER_NAME
        if not (settings.CF_ACCOUNT_ID and worker):
            raise TransportError("set CF_ACCOUNT_ID and CF_WORKER_NAME", permanent=True)
        url = settings.CLOUDFLARE_API_URL.rstrip("/") + "/graphql"
        headers = {"Authorization": f"Bearer {settings.CF_API_TOKEN}", "Content-Type": "application/json"}
        variables = {"accountTag": settings.CF_ACCOUNT_ID, "scriptName": worker, "since": since, "until": until}
        body = {"query": WORKERS_ANALYTICS_QUERY, "variables": variables}
        answer = self._with_retries(lambda: http.request("POST", url, json=body, headers=headers)).json or {}
        if answer.get("errors"):
            raise TransportError("GraphQL: " + "; ".join(str(e.get("message")) for e in answer["errors"]))
        accounts = ((answer.get("data") or {}).get("viewer") or {}).get("accounts") or []
        groups = accounts[0].get("workersInvocationsAdaptive", []) if accounts else []
        requests = sum(int(g.get("sum", {}).get("requests") or 0) for g in groups)
        errors = sum(int(g.get("sum", {}).get("errors") or 0) for g in groups)
        cpu = [g.get("quantiles") or {} for g in groups]
        return {
            "requests": requests,
            "errors": errors,
            "error_rate": round(errors / requests, 4) if requests else 0.0,
            "cpu_time_p50_us": max((float(q.get("cpuTimeP50") or 0) for q in cpu), default=None),
            "cpu_time_p99_us": max((float(q.get("cpuTimeP99") or 0) for q in cpu), default=None),
        }

    def _script(self, worker: str = "") -> str:
        worker = worker or settings.CF_WORKER_NAME
        if not (settings.CF_ACCOUNT_ID and worker):
            raise TransportError("set CF_ACCOUNT_ID and CF_WORKER_NAME", permanent=True)
        return f"/accounts/{settings.CF_ACCOUNT_ID}/workers/scripts/{worker}"

    def do_purge_cache(self, *, dry_run: bool, **by: list | None) -> Outcome:
        """Purge everything, or only the given ``files`` (URLs), ``tags``, ``hosts`` or ``prefixes``."""
        if not settings.CF_ZONE_ID:
            return Outcome(False, "Cloudflare zone not configured: set CF_ZONE_ID", skipped=True)
        given = {kind: list(by[kind]) for kind in PURGE_KINDS if by.get(kind)}
        if set(by) - set(PURGE_KINDS):
            return Outcome(False, f"purge by one of {', '.join(PURGE_KINDS)}")
        if len(given) > 1:
            return Outcome(
                False, f"purge by one kind at a time (given: {', '.join(given)}); Cloudflare takes one per call"
            )
        body = given or {"purge_everything": True}
        what = next((f"{kind}: {', '.join(items)}" for kind, items in given.items()), "everything")
        path = f"/zones/{settings.CF_ZONE_ID}/purge_cache"
        if dry_run:
            self._preview("POST", path, body)
            return Outcome(True, f"would purge {what}")
        result = self._call("POST", path, body)
        return Outcome(True, f"purged {what}", {"purge_id": result.get("id"), "backends": ["cloudflare"]})

    def _deployments(self, worker: str = "") -> list[dict]:
        return self._call("GET", self._script(worker) + "/deployments").get("deployments", [])

    @staticmethod
    def scratch_refusal() -> str:
        """Why the drills' scratch Worker may not be acted on (unset, or the platform's own), else ``""``:
        the one check behind every scratch action and drill."""
        if not settings.DRILL_CF_WORKER_NAME:
            return "no scratch Worker: set DRILL_CF_WORKER_NAME"
        if settings.DRILL_CF_WORKER_NAME == settings.CF_WORKER_NAME:
            return "DRILL_CF_WORKER_NAME must not be the platform's Worker"
        return ""

    def _target(self, scratch: bool) -> str:
        """The Worker an action acts on: the platform's (``""``: ``CF_WORKER_NAME``), or with ``scratch``
        only the drills' scratch Worker, never the real one."""
        if not scratch:
            return ""
        if why := self.scratch_refusal():
            raise TransportError(why, permanent=True)
        return settings.DRILL_CF_WORKER_NAME

    @staticmethod
    def _on(worker: str) -> str:
        return f" on scratch Worker {worker}" if worker else ""

    def live_version(self, worker: str = "") -> str:
        """The Worker's live version (its newest deployment's main version); ``TransportError`` when refused."""
        return self._live(worker)

    def deployed_versions(self, worker: str = "") -> list[str]:
        """The main version of each of the Worker's deployments, newest first."""
        return [self._main_version(d) for d in self._deployments(worker)]

    def _deploy(self, version_id: str, worker: str = "") -> dict:
        body = self._deployment_body(version_id)
        path = self._script(worker) + "/deployments"
        try:
            return self._call("POST", path, body)
        except TransportError as exc:
            if str(FORCE_REQUIRED) not in exc.message:
                raise
            return self._call("POST", path + "?force=true", body)

    @staticmethod
    def _main_version(deployment: dict) -> str:
        versions = sorted(deployment.get("versions", []), key=lambda v: -v.get("percentage", 0))
        return versions[0]["version_id"] if versions else ""

    def _live_and_previous(self, deployments: list[dict]) -> tuple[str, str]:
        """The live version and the newest earlier one that differs: a redeploy of the live version
        makes a deployment of the same version, which is no rollback target."""
        live = self._main_version(deployments[0]) if deployments else ""
        earlier = (self._main_version(d) for d in deployments[1:])
        return live, next((v for v in earlier if v and v != live), "")

    def do_rollback_worker(self, *, dry_run: bool, scratch: bool = False) -> Outcome:
        worker = self._target(scratch)
        live, previous = self._live_and_previous(self._deployments(worker))
        if not previous:
            return Outcome(False, f"no previous deployment{self._on(worker)} to roll back to")
        data = {"from": live, "to": previous} | ({"worker": worker} if worker else {})
        if dry_run:
            self._preview("POST", self._script(worker) + "/deployments", self._deployment_body(previous))
            return Outcome(True, f"would roll back{self._on(worker)} from version {live} to {previous}", data)
        data["deployment"] = self._deploy(previous, worker).get("id")
        return Outcome(True, f"rolled back{self._on(worker)} to version {previous}", data)

    def do_deploy_version(self, *, dry_run: bool, version_id: str, scratch: bool = False) -> Outcome:
        """Deploy one version at 100 % (a rollback's undo: forward again to the version it replaced)."""
        if not version_id:
            return Outcome(False, "no version to deploy")
        worker = self._target(scratch)
        live = self._live(worker)
        data = {"from": live, "to": version_id} | ({"worker": worker} if worker else {})
        if dry_run:
            self._preview("POST", self._script(worker) + "/deployments", self._deployment_body(version_id))
            return Outcome(True, f"would deploy version {version_id}{self._on(worker)} (live: {live})", data)
        result = self._deploy(version_id, worker)
        return Outcome(True, f"deployed version {version_id}{self._on(worker)}", data | {"id": result.get("id")})

    def do_redeploy_worker(self, *, dry_run: bool, scratch: bool = False) -> Outcome:
        worker = self._target(scratch)
        deployments = self._deployments(worker)
        if not deployments:
            return Outcome(False, f"{'scratch Worker ' + worker if worker else 'the Worker'} has no deployment")
        live = self._main_version(deployments[0])
        data = {"version": live} | ({"worker": worker} if worker else {})
        if dry_run:
            return Outcome(True, f"would redeploy version {live}{self._on(worker)} at 100 %", data)
        result = self._deploy(live, worker)
        return Outcome(True, f"redeployed version {live}{self._on(worker)}", data | {"deployment": result.get("id")})

    def do_set_secret(self, *, dry_run: bool, secret: str, value: str = "true", scratch: bool = False) -> Outcome:
        """Put a Worker secret; Cloudflare deploys a new version with it at once. When it refuses
        because the latest version is not the deployed one (10215), deploy the latest first."""
        if secret not in SECRET_NAMES:
            return Outcome(False, f"secret must be one of {', '.join(SECRET_NAMES)}")
        worker = self._target(scratch)
        shown = "(hidden)" if secret == "DATABASE_URL" else value
        body = {"name": secret, "text": str(value), "type": "secret_text"}
        if dry_run:
            self._preview("PUT", self._script(worker) + "/secrets", body)
            return Outcome(True, f"would set {secret}={shown}{self._on(worker)}")
        redeployed = self._latest_first(worker, lambda: self._call("PUT", self._script(worker) + "/secrets", body))
        note = f" (deployed the latest version {redeployed} first)" if redeployed else ""
        data = {"secret": secret, "redeployed": redeployed} | ({"worker": worker} if worker else {})
        return Outcome(True, f"{secret} set to {shown}{self._on(worker)}{note}", data)

    def do_delete_secret(self, *, dry_run: bool, secret: str, scratch: bool = False) -> Outcome:
        """Delete a Worker secret (Cloudflare deploys a new version without it); gone already is done."""
        if secret not in SECRET_NAMES:
            return Outcome(False, f"secret must be one of {', '.join(SECRET_NAMES)}")
        worker = self._target(scratch)
        path = self._script(worker) + f"/secrets/{secret}"
        if dry_run:
            self._preview("DELETE", path)
            return Outcome(True, f"would delete {secret}{self._on(worker)}")
        if secret not in self.secret_names(worker):
            return Outcome(True, f"{secret} was not set{self._on(worker)}", {"secret": secret, "deleted": False})
        redeployed = self._latest_first(worker, lambda: self._call("DELETE", path))
        data = {"secret": secret, "deleted": True, "redeployed": redeployed} | ({"worker": worker} if worker else {})
        return Outcome(True, f"{secret} deleted{self._on(worker)}", data)

    def secret_names(self, worker: str = "") -> list[str]:
        """The names of the Worker's secrets (Cloudflare never answers with their values)."""
        answer = self._call("GET", self._script(worker) + "/secrets")
        return sorted(s.get("name", "") for s in (answer if isinstance(answer, list) else []))

    def _latest_first(self, worker: str, edit) -> str:
        """Run a secret edit; on 10215 (the latest version is not deployed) deploy the latest, then again."""
        try:
            edit()
        except TransportError as exc:
            if not any(code in exc.message for code in LATEST_NOT_DEPLOYED):
                raise
            latest = self._deploy_latest(worker)
            edit()
            return latest
        return ""

    def _deploy_latest(self, worker: str = "") -> str:
        versions = self._call("GET", self._script(worker) + "/versions").get("items", [])
        if not versions:
            raise TransportError("the Worker has no version to deploy", permanent=True)
        latest = versions[0]["id"]
        self._deploy(latest, worker)
        return latest

    @staticmethod
    def _deployment_body(version_id: str) -> dict:
        return {"strategy": "percentage", "versions": [{"version_id": version_id, "percentage": 100}]}

    def do_rollback_check(self, *, dry_run: bool) -> Outcome:
        """Drill: find the version a rollback would deploy, without deploying it."""
        return self.do_rollback_worker(dry_run=True)

    def do_rollback_drill(self, *, dry_run: bool) -> Outcome:
        """Drill: roll the scratch Worker (``DRILL_CF_WORKER_NAME``) back to its previous version, check
        it is live, and forward again; without one, a dry run on the real Worker: its previous version
        is found and exists. Inconclusive when neither Worker is configured, and refused (inconclusive,
        nothing sent) when the scratch Worker named is the platform's own."""
        if settings.DRILL_CF_WORKER_NAME and self.scratch_refusal():
            hint = "set DRILL_CF_WORKER_NAME to a scratch Worker of its own, not the platform's CF_WORKER_NAME"
            what = "a scratch Worker that is not the platform's"
            output = f"refused: DRILL_CF_WORKER_NAME is the platform's Worker {settings.CF_WORKER_NAME}; {hint}"
            return Outcome(False, output, {"missing": {"what": what, "hint": hint}}, skipped=True)
        if settings.DRILL_CF_WORKER_NAME and settings.CF_ACCOUNT_ID:
            return self._scratch_rollback(settings.DRILL_CF_WORKER_NAME, dry_run=dry_run)
        if settings.CF_WORKER_NAME and settings.CF_ACCOUNT_ID:
            return self._real_rollback_dry_run()
        hint = "set CF_ACCOUNT_ID and DRILL_CF_WORKER_NAME (a scratch Worker), or CF_WORKER_NAME for a dry run"
        what = "a Cloudflare Worker to drill on"
        return Outcome(False, f"no Worker to drill on: {hint}", {"missing": {"what": what, "hint": hint}}, skipped=True)

    def _live(self, worker: str) -> str:
        deployments = self._deployments(worker)
        return self._main_version(deployments[0]) if deployments else ""

    def _scratch_rollback(self, worker: str, *, dry_run: bool) -> Outcome:
        live, previous = self._live_and_previous(self._deployments(worker))
        if not previous:
            return Outcome(False, f"scratch Worker {worker} has no previous deployment to roll back to")
        data = {"worker": worker, "from": live, "to": previous, "mode": "scratch"}
        if dry_run:
            return Outcome(True, f"would roll scratch Worker {worker} back to {previous} and forward to {live}", data)
        self._deploy(previous, worker)
        rolled_back = self._live(worker)
        self._deploy(live, worker)
        restored = self._live(worker)
        ok = rolled_back == previous and restored == live
        data |= {"rolled_back_to": rolled_back, "restored": restored}
        return Outcome(ok, f"scratch Worker {worker}: rolled back to {rolled_back}, forward again to {restored}", data)

    def _real_rollback_dry_run(self) -> Outcome:
        live, previous = self._live_and_previous(self._deployments())
        if not previous:
            return Outcome(False, f"Worker {settings.CF_WORKER_NAME} has no previous deployment to roll back to")
        version = self._call("GET", self._script() + f"/versions/{previous}")
        ok = version.get("id") == previous
        data = {"worker": settings.CF_WORKER_NAME, "from": live, "to": previous, "mode": "dry run"}
        return Outcome(ok, f"dry run on {settings.CF_WORKER_NAME}: would roll back from {live} to {previous}", data)
