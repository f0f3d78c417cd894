"""``manage.py doctor``: what is set up and what will not work yet (the /setup/ page, as text).

Exit status 1 when a P0 could page nobody, else 0. ``--json`` prints the report as ``GET /api/v1/setup/``.
"""

from __future__ import annotations

import json as jsonlib

from django.core.management.base import BaseCommand

from incidents.setup import setup_report


class Command(BaseCommand):
    help = "Report what is configured and what will not work yet; exit 1 when a P0 could page nobody."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, json: bool = False, **options):
        report = setup_report()
        if json:
            self.stdout.write(_dumps(report))
        else:
            self.stdout.write(render(report))
        if report["p0_pages_nobody"]:
            raise SystemExit(1)


def _dumps(report: dict) -> str:
    return jsonlib.dumps(report, indent=2)


def render(report: dict) -> str:
    lines = []
    for section in report["sections"]:
        lines.append(f"{section['name']}:")
        for item in section["items"]:
            mark = "ok " if item["status"] == "configured" else "-- "
            extra = f" (set {item['set']})" if item["set"] else ""
            detail = f": {item['detail']}" if item["detail"] else ""
            lines.append(f"  {mark}{item['label']}: {item['status']}{extra}{detail}")
        lines.append("")
    if report["consequences"]:
        lines.append("What will not work yet:")
        lines += [f"  - {line}" for line in report["consequences"]]
    else:
        lines.append("Everything is set up.")
    return "\n".join(lines)
