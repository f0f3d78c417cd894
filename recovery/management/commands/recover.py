"""``recover full|database|api|auth|websocket|cache|media [--dry-run] [--inline] [--incident INC-…]``,
``recover test [--scenario …]``, ``recover list``, ``recover show ID`` (the runbook's disaster-recovery.sh).

Exit status: 0 succeeded, 1 failed, 3 inconclusive (a proof step was skipped: configure what it names)."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from pitchey_incidents.cli import DomainCommand, cli_actor

from ... import defaults, selectors, services
from ...models import RecoveryRun
from ...reports import render_markdown

EXIT_FAILED, EXIT_INCONCLUSIVE = 1, 3
PLANS = ["full", "database", "api", "auth", "websocket", "cache", "media", "config"]


class Command(DomainCommand):
    help = "Run disaster-recovery plans and drills."

    def add_arguments(self, parser):
        parser.add_argument("what", choices=[*PLANS, "test", "list", "show"])
        parser.add_argument("id", nargs="?", help="Run id (show)")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--inline", action="store_true", help="Run here instead of on a worker")
        parser.add_argument("--incident", default="", help="Attach to an incident, e.g. INC-00001")
        parser.add_argument("--scenario", action="append", choices=defaults.SCENARIOS, help="Drill scenario(s)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, what, **opts):
        if what == "list":
            return self._list(opts["json"])
        if what == "show":
            return self._show(opts["id"], opts["json"])
        if what == "test":
            runs = [
                services.drill_start(scenario=s, actor=cli_actor(), inline=opts["inline"])
                for s in opts["scenario"] or defaults.SCENARIOS
            ]
        else:
            extra = services.incident_fields(opts["incident"])
            runs = [
                services.run_start(
                    plan=what, actor=cli_actor(), dry_run=opts["dry_run"], inline=opts["inline"], **extra
                )
            ]
        for run in runs:
            run.refresh_from_db()
            if run.finished_at:
                self._print(run)
            else:
                self.stdout.write(f"{run.kind} #{run.id} ({run.plan}) queued; follow it with: recover show {run.id}")
        self._exit([run for run in runs if run.finished_at])

    @staticmethod
    def _exit(finished: list[RecoveryRun]) -> None:
        """Exit status: 0 succeeded, 1 failed (or cancelled, or a drill that deviated), 3 inconclusive
        (2 stays the usage error of every command)."""
        if any(r.status not in ("succeeded", "inconclusive") or r.deviated for r in finished):
            raise CommandError("recovery did not succeed (see the report above)", returncode=EXIT_FAILED)
        missing = [m for r in finished for m in r.missing]
        if any(r.status == "inconclusive" for r in finished):
            hint = "; ".join(dict.fromkeys(f"{m['what']}: {m['hint']}" for m in missing))
            raise CommandError(f"inconclusive, nothing proven for: {hint}", returncode=EXIT_INCONCLUSIVE)

    def _print(self, run: RecoveryRun) -> None:
        self.stdout.write(render_markdown(run.report))

    def _list(self, as_json: bool) -> None:
        runs = list(selectors.runs()[:50])
        if as_json:
            self.stdout.write(
                json.dumps([{"id": r.id, "kind": r.kind, "plan": r.plan, "status": r.status} for r in runs])
            )
            return
        for r in runs:
            self.stdout.write(f"#{r.id:<5} {r.kind:<5} {r.plan:<18} {r.status:<10} {r.incident or '-':<10} {r.summary}")

    def _show(self, run_id, as_json: bool) -> None:
        if not run_id or not str(run_id).isdigit():
            raise CommandError("show needs a run id")
        run = RecoveryRun.objects.filter(id=int(run_id)).first()
        if run is None:
            raise CommandError(f"no run {run_id}")
        if as_json:
            self.stdout.write(json.dumps(run.report or {"id": run.id, "status": run.status}, indent=2, default=str))
        elif run.report:
            self._print(run)
        else:
            for step in run.steps.all():
                self.stdout.write(f"{step.position:>2}. [{step.status}] {step.title} ({step.action})")
