from __future__ import annotations

import signal
import threading

from django.core.management.base import CommandError

from pitchey_incidents.cli import DomainCommand

from ... import pitr
from ...pitr.stream import WalReceiver


class Command(DomainCommand):
    help = (
        "Stream the PITR target's WAL from its replication slot (pg_receivewal) and ship every finished "
        "segment to the backup tiers. Long-lived: run one per target (Procfile: walreceiver)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check-interval", type=float, default=1.0, help="Seconds between checks (default 1)")
        parser.add_argument(
            "--idle-when-off",
            action="store_true",
            help="With PITR_DATABASE_URL empty, wait for a stop signal instead of failing (process managers)",
        )

    def handle(self, *args, check_interval, idle_when_off, **opts):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        if not pitr.configured():
            if not idle_when_off:
                raise CommandError("continuous archiving is off: set PITR_DATABASE_URL (a role with REPLICATION)")
            self.stdout.write("WAL receiver: continuous archiving is off (PITR_DATABASE_URL is empty); idle")
            self.stdout.flush()
            stop.wait()
            return
        receiver = WalReceiver(check_interval=check_interval)
        self.stdout.write(f"WAL receiver: slot {receiver.slot}, spool {receiver.spool}")
        self.stdout.flush()
        receiver.run(stop)
        self.stdout.write("WAL receiver stopped")
