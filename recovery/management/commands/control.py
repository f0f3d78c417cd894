"""``control list`` · ``control NAME [--dry-run] [--incident INC-…] [options]`` ·
``control undo RUN_ID`` · ``control audit`` (the runbook's emergency commands, as on /controls/).

NAME is one of the controls (``read_only_on``, ``read_only_off``, ``maintenance_on``,
``maintenance_off``, ``purge_edge_cache``, ``flush_app_cache``, ``emergency_backup``,
``rollback_deploy``, ``scale_database``, ``kill_idle_connections``). Exit status: 0 done, 1 failed
or only partly done (each back end is printed)."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from pitchey_incidents.cli import DomainCommand, cli_actor

from ...controls import BY_NAME, EMERGENCY_CONTROLS, control_run, control_state, control_undo, run_answer
from ...models import ControlRun


class Command(DomainCommand):
    help = "Run an emergency control now (read-only, maintenance, caches, backup, rollback, scaling, connections)."

    def add_arguments(self, parser):
        parser.add_argument("what", help=f"list, undo, audit, or one of: {', '.join(BY_NAME)}")
        parser.add_argument("id", nargs="?", help="Run id (undo)")
        parser.add_argument("--dry-run", action="store_true", help="Show the exact requests; send none")
        parser.add_argument("--incident", default="", help="The incident this is for, e.g. INC-00001")
        parser.add_argument("--size", help="scale_database: small, medium, large or xlarge")
        parser.add_argument("--min-cu", help="scale_database: lower limit (CU)")
        parser.add_argument("--max-cu", help="scale_database: upper limit (CU)")
        parser.add_argument("--allow-shrink", action="store_true", help="scale_database: allow lowering a limit")
        parser.add_argument("--idle-minutes", help="kill_idle_connections: idle for at least (default 10)")
        for kind in ("files", "tags", "hosts", "prefixes"):
            parser.add_argument(f"--{kind}", help=f"purge_edge_cache: comma-separated {kind}")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, what, **opts):
        if what == "list":
            return self._list(opts["json"])
        if what == "audit":
            return self._audit(opts["json"])
        if what == "undo":
            if not (opts["id"] or "").isdigit():
                raise CommandError("undo needs the run's id (see: control audit)")
            run = control_undo(run_id=int(opts["id"]), actor=cli_actor())
        elif what in BY_NAME:
            run = control_run(
                action=what,
                params=self._params(what, opts),
                actor=cli_actor(),
                dry_run=opts["dry_run"],
                incident=opts["incident"],
            )
        else:
            raise CommandError(f"unknown control {what!r}; known: {', '.join(BY_NAME)}")
        self._print(run, opts["json"])
        if run.status != "succeeded":
            raise CommandError(f"{run.name} {run.status}: {run.output.splitlines()[0][:300]}")

    @staticmethod
    def _params(name: str, opts: dict) -> dict:
        keys = {
            "scale_database": ("size", "min_cu", "max_cu", "allow_shrink"),
            "kill_idle_connections": ("idle_minutes",),
            "purge_edge_cache": ("files", "tags", "hosts", "prefixes"),
        }.get(name, ())
        given = {k: opts[k] for k in keys if opts.get(k) not in (None, "", False)}
        stray = [k for k in ("size", "min_cu", "max_cu", "idle_minutes", "files", "tags") if opts.get(k)]
        if any(k not in keys for k in stray):
            raise CommandError(f"--{stray[0].replace('_', '-')} does not apply to {name}")
        return given

    def _print(self, run: ControlRun, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(run_answer(run), indent=2, default=str))
            return
        for request in run.requests:
            verb = "sent" if request["sent"] else "would send"
            body = f" {json.dumps(request['body'])}" if request["body"] is not None else ""
            self.stdout.write(f"  {verb}: {request['method']} {request['url']}{body}")
        for name, backend in (run.backends or {}).items():
            self.stdout.write(f"  {name}: {'on' if backend.get('on') else 'off'} — {backend.get('output', '')}")
        self.stdout.write(f"{run.name} #{run.id} {run.status}: {run.output}")
        if run.undo_available:
            self.stdout.write(f"undo: control undo {run.id} ({run.undo.get('label', run.undo['action'])})")

    def _list(self, as_json: bool) -> None:
        states = [control_state(c) for c in EMERGENCY_CONTROLS]
        if as_json:
            self.stdout.write(json.dumps(states, indent=2))
            return
        for s in states:
            where = "" if s["configured"] else f"  (not configured: {s['hint']})"
            state = f" [{s['state']}]" if s["state"] else ""
            self.stdout.write(f"{s['name']:<22} {s['title']}{state}{where}")

    def _audit(self, as_json: bool) -> None:
        runs = list(ControlRun.objects.all()[:50])
        if as_json:
            self.stdout.write(json.dumps([run_answer(r) for r in runs], indent=2, default=str))
            return
        for r in runs:
            self.stdout.write(
                f"#{r.id} {r.started_at:%Y-%m-%d %H:%M:%S} {r.actor} {r.name} {r.status}: {r.output[:120]}"
            )
