"""Neon API v2: point-in-time branches, endpoint restarts, compute resizing.

Every answer lists ``operations``; we poll each until it is ``finished`` (or failed) so that a step
succeeds only when Neon has really done the work.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.utils import timezone

from pitchey_incidents import http

from .. import runcontext
from .base import ApiProvider, Outcome, register

DONE, FAILED = {"finished", "skipped"}, {"failed", "error", "cancelled"}


@register
class Neon(ApiProvider):
    name = "neon"
    label = "Neon"
    idempotent = frozenset({"restart_endpoint", "resize"})

    def available(self):
        if settings.NEON_API_KEY and settings.NEON_PROJECT_ID:
            return True, ""
        return False, "set NEON_API_KEY and NEON_PROJECT_ID"

    def _url(self, path: str) -> str:
        return settings.NEON_API_URL.rstrip("/") + f"/projects/{settings.NEON_PROJECT_ID}" + path

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        url = self._url(path)
        if method != "GET":
            runcontext.record(method, url, body)
        headers = {"Authorization": f"Bearer {settings.NEON_API_KEY}", "Accept": "application/json"}
        resp = self._with_retries(lambda: http.request(method, url, json=body, headers=headers))
        return resp.json or {}

    def _wait(self, answer: dict) -> tuple[bool, list[dict]]:
        """Poll the answer's operations until each has finished; False if one failed or time ran out."""
        pending = {op["id"]: op for op in answer.get("operations", [])}
        deadline = time.monotonic() + settings.NEON_OPERATION_TIMEOUT_S
        done: list[dict] = []
        while pending:
            for op_id, op in list(pending.items()):
                status = op.get("status")
                if status in DONE or status in FAILED:
                    done.append({"id": op_id, "action": op.get("action"), "status": status, "error": op.get("error")})
                    del pending[op_id]
            if not pending:
                break
            if time.monotonic() > deadline:
                return False, done + [{"id": i, "status": "timeout"} for i in pending]
            time.sleep(settings.NEON_POLL_INTERVAL_S)
            for op_id in list(pending):
                pending[op_id] = self._call("GET", f"/operations/{op_id}").get("operation", {})
        return all(op["status"] in DONE for op in done), done

    def _endpoint(self, endpoint: str) -> str:
        return endpoint or settings.NEON_ENDPOINT_ID

    def do_restart_endpoint(self, *, dry_run: bool, endpoint: str = "") -> Outcome:
        endpoint = self._endpoint(endpoint)
        if not endpoint:
            return Outcome(False, "no endpoint: set NEON_ENDPOINT_ID")
        if dry_run:
            return Outcome(True, f"would restart endpoint {endpoint}")
        ok, ops = self._wait(self._call("POST", f"/endpoints/{endpoint}/restart"))
        return Outcome(ok, f"endpoint {endpoint} restart {'finished' if ok else 'failed'}", {"operations": ops})

    def do_resize(self, *, dry_run: bool, min_cu: float = 1, max_cu: float = 4, endpoint: str = "") -> Outcome:
        endpoint = self._endpoint(endpoint)
        if not endpoint:
            return Outcome(False, "no endpoint: set NEON_ENDPOINT_ID")
        if not 0 < float(min_cu) <= float(max_cu):
            return Outcome(False, "min_cu must be positive and at most max_cu")
        body = {"endpoint": {"autoscaling_limit_min_cu": float(min_cu), "autoscaling_limit_max_cu": float(max_cu)}}
        if dry_run:
            runcontext.record("PATCH", self._url(f"/endpoints/{endpoint}"), body, sent=False)
            return Outcome(True, f"would resize endpoint {endpoint} to {min_cu}–{max_cu} CU")
        ok, ops = self._wait(self._call("PATCH", f"/endpoints/{endpoint}", body))
        return Outcome(ok, f"endpoint {endpoint} resized to {min_cu}–{max_cu} CU", {"operations": ops})

    def do_compute(self, *, dry_run: bool, endpoint: str = "") -> Outcome:
        """The endpoint's current autoscaling limits."""
        endpoint = self._endpoint(endpoint)
        if not endpoint:
            return Outcome(False, "no endpoint: set NEON_ENDPOINT_ID", skipped=True)
        found = self._call("GET", f"/endpoints/{endpoint}").get("endpoint") or {}
        low, high = found.get("autoscaling_limit_min_cu"), found.get("autoscaling_limit_max_cu")
        if low is None or high is None:
            return Outcome(False, f"endpoint {endpoint} did not say its compute size")
        return Outcome(True, f"endpoint {endpoint}: {low}–{high} CU", {"min_cu": low, "max_cu": high})

    def do_scale(
        self, *, dry_run: bool, min_cu: float, max_cu: float, allow_shrink: bool = False, endpoint: str = ""
    ) -> Outcome:
        """Read the current compute first; refuse to lower either limit unless ``allow_shrink``."""
        current = self.do_compute(dry_run=dry_run, endpoint=endpoint)
        if not current.ok:
            return current
        before = current.data
        data = {"previous": before, "requested": {"min_cu": float(min_cu), "max_cu": float(max_cu)}}
        shrinks = float(min_cu) < before["min_cu"] or float(max_cu) < before["max_cu"]
        if shrinks and not allow_shrink:
            why = f"refused: {min_cu}–{max_cu} CU would shrink the endpoint from {before['min_cu']}–{before['max_cu']}"
            return Outcome(False, f"{why} CU; pass allow_shrink (--allow-shrink) to shrink", data)
        result = self.do_resize(dry_run=dry_run, min_cu=min_cu, max_cu=max_cu, endpoint=endpoint)
        prefix = f"was {before['min_cu']}–{before['max_cu']} CU; "
        return Outcome(result.ok, prefix + result.output, data | result.data)

    def do_branch_from_pitr(
        self, *, dry_run: bool, timestamp: str = "", lsn: str = "", parent_id: str = "", name: str = ""
    ) -> Outcome:
        """Create a branch at a past point (default: now) with a read-write endpoint."""
        if timestamp and lsn:
            return Outcome(False, "give a timestamp or an LSN, not both")
        point = timestamp or lsn or timezone.now().isoformat(timespec="seconds").replace("+00:00", "Z")
        branch: dict = {"name": name or f"recovery-{int(time.time())}"}
        branch["parent_lsn" if lsn else "parent_timestamp"] = point
        if parent_id:
            branch["parent_id"] = parent_id
        body = {"branch": branch, "endpoints": [{"type": "read_write"}]}
        if dry_run:
            return Outcome(True, f"would create branch {branch['name']} at {point}")
        answer = self._call("POST", "/branches", body)
        ok, ops = self._wait(answer)
        created = answer.get("branch", {})
        hosts = [e.get("host") for e in answer.get("endpoints", [])]
        uris = [c.get("connection_uri") for c in answer.get("connection_uris", []) if c.get("connection_uri")]
        data = {"branch_id": created.get("id"), "hosts": hosts, "point_in_time": None if lsn else point, "lsn": lsn}
        data["data_type"] = "database"
        if uris:
            data["connection_uri"] = uris[0]  # a secret: kept for the next step, never shown
        return Outcome(
            ok, f"branch {created.get('id')} at {point}: {'ready' if ok else 'failed'}", data | {"operations": ops}
        )

    def do_delete_branch(self, *, dry_run: bool, branch_id: str) -> Outcome:
        if not branch_id:
            return Outcome(False, "no branch to delete")
        if dry_run:
            return Outcome(True, f"would delete branch {branch_id}")
        ok, ops = self._wait(self._call("DELETE", f"/branches/{branch_id}"))
        return Outcome(ok, f"branch {branch_id} deleted", {"operations": ops})
