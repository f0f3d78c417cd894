"""Point-in-time recovery of a self-hosted PostgreSQL from our own base backups and WAL archive:
what the database plan and the failover drill fall back to when there is no Neon."""

from __future__ import annotations

from pathlib import Path

from backups import pitr
from backups.pitr.restore import pitr_restore, stop_restored
from backups.selectors import pitr_status
from pitchey_incidents.errors import DomainError

from .base import Outcome, Provider, register


@register
class Pitr(Provider):
    name = "pitr"
    label = "Point-in-time recovery (WAL archive)"

    def available(self) -> tuple[bool, str]:
        if pitr.configured():
            return True, ""
        return False, "set PITR_DATABASE_URL (a role with REPLICATION), or let the protected database replicate"

    def do_restore(self, *, dry_run: bool, to_time: str = "latest", port: int | None = None) -> Outcome:
        """Bring up the database as at ``to_time`` in a new data directory and port."""
        if dry_run:
            return Outcome(True, f"would bring up the database as at {to_time} from the newest base backup and WAL")
        try:
            result = pitr_restore(to_time=to_time, actor="recovery", port=port)
        except DomainError as exc:
            return Outcome(False, exc.message)
        point = result["target"]
        if point == "latest":
            received = pitr_status()["wal_received_at"]
            point = received.isoformat() if received else None
        data = {k: result[k] for k in ("datadir", "port", "base_backup", "complete", "missing_segment", "detail")}
        data |= {"connection_uri": result["url"], "data_type": "database", "point_in_time": point}
        output = f"database as at {result['target']} up on port {result['port']} ({result['url']}): {result['detail']}"
        return Outcome(result["complete"], output, data)

    def do_stop(self, *, dry_run: bool, datadir: str = "") -> Outcome:
        """Stop a server a restore brought up and remove its data directory."""
        if not datadir:
            return Outcome(False, "no data directory to stop")
        if dry_run:
            return Outcome(True, f"would stop the server in {datadir} and remove it")
        stop_restored(Path(datadir), remove=True)
        return Outcome(True, f"stopped and removed {datadir}")
