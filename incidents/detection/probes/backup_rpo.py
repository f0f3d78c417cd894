"""Backups against the RPO: the age of the newest verified backup of each data type it watches
(``config["data_types"]``), against the data type's RPO target (warning) and maximum (breach).

Watching the database with continuous archiving on, it also reports the WAL stream: ``wal_gaps``
(1 while WAL was lost and no base backup has been taken since, and for an hour after the loss
however soon a new base backup closes the gap: down) and ``slot_over_warning`` (1
while the slot keeps more than ``PITR_SLOT_WARN_BYTES`` on the server: degraded), with
``slot_lag_bytes`` and ``wal_lag_s``."""

from __future__ import annotations

from django.conf import settings

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
        details = [_describe(r) for r in rows]
        pitr = next((r["pitr"] for r in rows if r.get("pitr", {}).get("enabled")), None)
        if pitr:
            metrics |= _wal_metrics(pitr)
            details.append(_describe_wal(pitr, metrics))
        detail = "; ".join(details)
        if metrics["breaches"] or metrics.get("wal_gaps"):
            return Outcome.graded(ProbeStatus.DOWN, detail, data=metrics)
        if metrics["warnings"] or metrics["never_backed_up"] or metrics.get("slot_over_warning"):
            return Outcome.graded(ProbeStatus.DEGRADED, detail, data=metrics)
        return Outcome.graded(ProbeStatus.OK, detail, data=metrics)


def _wal_metrics(pitr: dict) -> dict:
    lag = pitr.get("slot_lag_bytes") or 0
    metrics = {
        "wal_gaps": int(bool(pitr["gap_open"] or pitr.get("gap_recent"))),
        "slot_lag_bytes": lag,
        "slot_over_warning": int(lag > settings.PITR_SLOT_WARN_BYTES),
    }
    if pitr.get("lag_s") is not None:
        metrics["wal_lag_s"] = pitr["lag_s"]
    return metrics


def _describe_wal(pitr: dict, metrics: dict) -> str:
    received = "not yet" if pitr.get("lag_s") is None else f"{format_duration(pitr['lag_s'])} ago"
    text = f"WAL received {received}, the slot keeps {metrics['slot_lag_bytes']} bytes on the server"
    if metrics["slot_over_warning"]:
        text += " (over PITR_SLOT_WARN_BYTES)"
    if pitr["gap_open"] or pitr.get("gap_recent"):
        text += f"; WAL gap: {pitr['gap_detail']}"
    return text


def _describe(row: dict) -> str:
    if row["age_s"] is None:
        return f"{row['name']}: no verified backup yet"
    word = {"ok": "within its RPO", "warning": "past its RPO target", "breach": "past its RPO maximum"}[row["state"]]
    age, most = format_duration(row["age_s"]), format_duration(row["max_s"])
    return f"{row['name']}: newest verified backup {age} old, {word} ({most} at most)"
