from __future__ import annotations

from incidents.detection import alerting
from incidents.detection.models import AlertSource, AlertSourceKind
from pitchey_incidents.cli import DomainCommand, cli_actor


class Command(DomainCommand):
    help = "Manage alert sources (Alertmanager, Grafana, generic) and their secrets."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True, parser_class=type(parser))
        create = sub.add_parser("create", help="Create a source and print its secret (shown once)")
        create.add_argument("name")
        create.add_argument("--kind", required=True, choices=AlertSourceKind.values)
        create.add_argument("--group-by", default="", help="Label names forming an alert group, comma-separated")
        create.add_argument("--auto-resolve-after", type=int, default=None, metavar="SECONDS")
        sub.add_parser("list", help="List sources")
        rotate = sub.add_parser("rotate", help="Replace a source's secret and print the new one")
        rotate.add_argument("name")
        delete = sub.add_parser("delete", help="Delete a source")
        delete.add_argument("name")

    def handle(self, *args, verb, **opts):
        getattr(self, f"do_{verb}")(**opts)

    def do_create(self, *, name, kind, group_by, auto_resolve_after, **_):
        labels = [g.strip() for g in group_by.split(",") if g.strip()]
        source, secret = alerting.alertsource_create(
            name=name, kind=kind, group_by=labels, auto_resolve_after_s=auto_resolve_after, actor=cli_actor()
        )
        self.stderr.write(f"Alert source {source.name} ({kind}) created. Send: Authorization: Bearer <secret>")
        self.stdout.write(secret)

    def do_list(self, **_):
        for s in AlertSource.objects.all():
            quiet = f"auto-resolve {s.auto_resolve_after_s}s" if s.auto_resolve_after_s is not None else "-"
            group = ",".join(s.group_by) or "sender's groupKey"
            self.stdout.write(f"{s.name:<24} {s.kind:<13} {'enabled' if s.enabled else 'disabled':<9} {group}  {quiet}")

    def do_rotate(self, *, name, **_):
        _, secret = alerting.alertsource_rotate(name=name, actor=cli_actor())
        self.stdout.write(secret)

    def do_delete(self, *, name, **_):
        alerting.alertsource_delete(name=name, actor=cli_actor())
        self.stdout.write(f"deleted {name}")
