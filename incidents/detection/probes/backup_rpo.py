"""Backups against the RPO: the age of the newest verified backup of each data type it watches
(``config["data_types"]``), against the data type's RPO target (warning) and maximum (breach)."""

from __future__ import annotations

from backups.selectors import rpo_status
from pitchey_incidents.timefmt import format_duration

from ..models import ProbeStatus
from .base import Outcome, ProbeCheck, register


@register
class BackupRpoCheck(ProbeCheck):
    kind = "backup_rpo"

    def check(self, probe, config):
        wanted = set(config.get("data_types") or [])
        rows = [r for r in rpo_status() if r["backup_kind"] and (not wanted or r["data_type"] in wanted)]
        if not rows:
            return Outcome.graded(ProbeStatus.SKIPPED, "no data type with a backup kind to watch")
        states = [r["state"] for r in rows]
        metrics = {
            "breaches": states.count("breach"),
            "warnings": states.count("warning"),
            "never_backed_up": states.count("unknown"),
        }
        ages = [r["age_s"] / r["max_s"] for r in rows if r["age_s"] is not None and r["max_s"]]
        if ages:
            metrics["worst_age_of_max"] = round(max(ages), 3)
        detail = "; ".join(_describe(r) for r in rows)
        if metrics["breaches"]:
            return Outcome.graded(ProbeStatus.DOWN, detail, data=metrics)
        if metrics["warnings"] or metrics["never_backed_up"]:
            return Outcome.graded(ProbeStatus.DEGRADED, detail, data=metrics)
        return Outcome.graded(ProbeStatus.OK, detail, data=metrics)


def _describe(row: dict) -> str:
    if row["age_s"] is None:
        return f"{row['name']}: no verified backup yet"
    word = {"ok": "within its RPO", "warning": "past its RPO target", "breach": "past its RPO maximum"}[row["state"]]
    age, most = format_duration(row["age_s"]), format_duration(row["max_s"])
    return f"{row['name']}: newest verified backup {age} old, {word} ({most} at most)"
