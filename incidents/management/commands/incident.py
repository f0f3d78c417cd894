from __future__ import annotations

import json

from django.core.management.base import CommandError

from incidents.detection.services import detection_run, report_lines
from incidents.lifecycle import selectors, services
from incidents.lifecycle.models import Incident, Source
from pitchey_incidents.cli import DomainCommand, cli_actor
from pitchey_incidents.timefmt import format_timestamp
from recovery.models import Severity


def _get(public_id: str) -> Incident:
    try:
        return selectors.incident_get(public_id)
    except Incident.DoesNotExist:
        raise CommandError(f"no incident {public_id}") from None


class Command(DomainCommand):
    help = "Declare, list and drive incidents (the runbook's incident-response.sh)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True, parser_class=type(parser))
        start = sub.add_parser("start", help="Declare an incident")
        start.add_argument("severity", choices=Severity.values)
        start.add_argument("title")
        start.add_argument("description", nargs="?", default="")
        start.add_argument("--service", action="append", default=[], dest="services")
        lst = sub.add_parser("list", help="List incidents (open ones by default)")
        lst.add_argument("--all", action="store_true")
        lst.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="Show an incident and its timeline")
        show.add_argument("id")
        show.add_argument("--json", action="store_true")
        ack = sub.add_parser("ack", help="Acknowledge an incident")
        ack.add_argument("id")
        mit = sub.add_parser("mitigate", help="Run a mitigation action")
        mit.add_argument("id")
        mit.add_argument("action")
        mit.add_argument("--param", action="append", default=[], help="NAME=VALUE")
        mit.add_argument("--dry-run", action="store_true")
        mit.add_argument("--inline", action="store_true", help="Run here instead of on a worker")
        det = sub.add_parser("detect", help="Run the probes, assess findings and apply automated mitigations")
        det.add_argument("--inline", action="store_true", help="Accepted for symmetry: detection always runs here")
        det.add_argument("--no-mitigate", action="store_true", help="Assess only; open incidents but change nothing")
        det.add_argument("--json", action="store_true")
        res = sub.add_parser("resolve", help="Resolve an incident")
        res.add_argument("id")
        res.add_argument("resolution")

    def handle(self, *args, verb, **opts):
        getattr(self, f"do_{verb}")(**opts)

    def do_start(self, *, severity, title, description, services: list, **_):
        incident = services_declare(severity, title, description, services)
        self.stdout.write(f"🚨 INCIDENT DECLARED: {incident.public_id} {severity} {title}")

    def do_list(self, *, all: bool, json: bool, **_):
        qs = selectors.incident_list(status=None if all else "open")[:200]
        if json:
            self.stdout.write(_dumps([_brief(i) for i in qs]))
            return
        rows = list(qs)
        if not rows:
            self.stdout.write("No open incidents." if not all else "No incidents.")
        for i in rows:
            commander = i.commander.username if i.commander_id else "-"
            self.stdout.write(
                f"{i.public_id}  {i.severity}  {i.status:<12}  {commander:<12}  "
                f"{format_timestamp(i.declared_at)}  {i.title}"
            )

    def do_show(self, *, id, json, **_):
        incident = _get(id)
        timeline = list(selectors.incident_timeline(incident))
        if json:
            data = _brief(incident) | {
                "timeline": [
                    {"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor, "message": e.message} for e in timeline
                ]
            }
            self.stdout.write(_dumps(data))
            return
        self.stdout.write(f"{incident.public_id} {incident.severity} {incident.title}")
        self.stdout.write(
            f"status: {incident.status}  public: {incident.public_status}  "
            f"commander: {incident.commander.username if incident.commander_id else '-'}"
        )
        for e in timeline:
            self.stdout.write(f"  {e.at:%H:%M:%S}  {e.actor:<16} {e.message}")

    def do_ack(self, *, id, **_):
        incident = services.incident_acknowledge(incident=_get(id), actor=cli_actor())
        self.stdout.write(f"✅ {incident.public_id} acknowledged")

    def do_mitigate(self, *, id, action, param, dry_run, inline, **_):
        params = {}
        for item in param:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--param {item!r}: expected NAME=VALUE")
            params[name] = value
        mitigation = services.mitigation_start(
            incident=_get(id), action=action, params=params, actor=cli_actor(), dry_run=dry_run, inline=inline
        )
        mitigation.refresh_from_db()
        self.stdout.write(
            f"🔧 mitigation {mitigation.id} {action}: {mitigation.status}"
            + (f"\n{mitigation.output}" if mitigation.output else "")
        )
        if mitigation.status == "failed":
            raise CommandError(f"mitigation {mitigation.id} failed")

    def do_detect(self, *, no_mitigate, json, **_):
        report = detection_run(mitigate=not no_mitigate)
        if json:
            self.stdout.write(_dumps(report.as_dict()))
        else:
            for line in report_lines(report):
                self.stdout.write(line)
        if not report.ok:
            raise CommandError("detection found problems")

    def do_resolve(self, *, id, resolution, **_):
        incident = services.incident_resolve(incident=_get(id), resolution=resolution, actor=cli_actor())
        self.stdout.write(f"✅ {incident.public_id} resolved")


def services_declare(severity, title, description, service_slugs):
    return services.incident_declare(
        severity=severity,
        title=title,
        description=description,
        services=service_slugs,
        actor=cli_actor(),
        source=Source.MANUAL,
    )


def _brief(i: Incident) -> dict:
    return {
        "id": i.public_id,
        "severity": i.severity,
        "title": i.title,
        "status": i.status,
        "public_status": i.public_status,
        "services": [s.slug for s in i.services.all()],
        "commander": i.commander.username if i.commander_id else None,
        "declared_at": i.declared_at.isoformat(),
    }


def _dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
