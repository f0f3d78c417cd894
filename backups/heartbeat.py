"""The heartbeat thread of a running backup or restore: from its own database connection, it writes
the row's heartbeat and progress at most twice a second; the sweeper fails a row whose heartbeat
stops (its worker died)."""

from __future__ import annotations

import abc
import logging
import threading

from django.db import connection

log = logging.getLogger(__name__)


class Heartbeat(threading.Thread, abc.ABC):
    """Calls ``beat()`` every ``interval`` seconds until stopped or ``beat()`` returns False. A beat
    that raises ends the thread with a warning: it must never crash the work it watches."""

    interval = 0.5

    def __init__(self, what: str, name: str):
        super().__init__(daemon=True, name=name)
        self.what = what  # as the warning names it: "backup 12"
        self.halt = threading.Event()

    @abc.abstractmethod
    def beat(self) -> bool:
        """One beat; False when the row is no longer running (nothing to beat for)."""

    def run(self) -> None:
        try:
            while not self.halt.wait(self.interval):
                if not self.beat():
                    return
        except Exception as exc:
            log.warning("%s heartbeat: %s", self.what, exc)
        finally:
            connection.close()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=10)
