"""Runs the Procfile's processes together (web, worker, beat, WAL receiver) for `make run`, and keeps
them running.

Each process gets its own session; its output is prefixed with its name. A process that exits on its
own is started again after a backoff: ``RUN_RESTART_BASE_S`` (default 1) doubled on each exit in a
row up to ``RUN_RESTART_MAX_S`` (default 30); a process that ran ``RUN_STABLE_S`` (default 60) starts
counting again from the base. Ctrl-C (SIGINT) or SIGTERM sends SIGTERM to each process itself (not its
process group), so the Celery worker shuts its pool down in order instead of finding its children
already dead; whatever is still running after ``RUN_STOP_GRACE_S`` (default 8) is killed, with its
process group. A second Ctrl-C kills at once.

Why not supervisord: it is one more daemon with its own configuration and log files to learn, it
cannot prefix and interleave the processes' output in one terminal as `make run` should, and in
production the container runtime restarts processes (``restart: unless-stopped`` in
docker-compose.yml). This is the development front door; the same rules, in ~150 lines.

    python -m pitchey_incidents.runner [Procfile]
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path


def read_procfile(path: Path) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            name, command = line.split(":", 1)
            entries.append((name.strip(), command.strip()))
    return entries


class _Output:
    """Prefixed, timestamped lines from every process, one at a time."""

    def __init__(self, width: int):
        self.width, self.lock = width, threading.Lock()

    def line(self, name: str, text: str) -> None:
        with self.lock:
            sys.stdout.write(f"{time.strftime('%H:%M:%S')} {name.ljust(self.width)} | {text}\n")
            sys.stdout.flush()

    def pump(self, name: str, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.line(name, raw.decode(errors="replace").rstrip("\n"))


@dataclass
class Policy:
    grace_s: float = 8.0
    restart_base_s: float = 1.0
    restart_max_s: float = 30.0
    stable_s: float = 60.0

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> Policy:
        def number(name: str, default: float) -> float:
            return float(environ.get(name) or default)

        return cls(
            grace_s=number("RUN_STOP_GRACE_S", cls.grace_s),
            restart_base_s=number("RUN_RESTART_BASE_S", cls.restart_base_s),
            restart_max_s=number("RUN_RESTART_MAX_S", cls.restart_max_s),
            stable_s=number("RUN_STABLE_S", cls.stable_s),
        )


class Child:
    """One Procfile entry: its current process, and when to start it again after it exited."""

    def __init__(self, name: str, command: str, out: _Output):
        self.name, self.command, self.out = name, command, out
        self.proc: subprocess.Popen | None = None
        self.pump: threading.Thread | None = None
        self.started_at = 0.0
        self.failures = 0  # exits in a row, each after less than the stable time
        self.restart_at: float | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {self.command}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.started_at, self.restart_at = time.monotonic(), None
        self.out.line("system", f"{self.name} started (pid {self.proc.pid})")
        self.pump = threading.Thread(target=self.out.pump, args=(self.name, self.proc.stdout), daemon=True)
        self.pump.start()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tend(self, policy: Policy) -> None:
        """Start again a process that exited, once its backoff has passed."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start()
            return
        if self.proc is None or self.proc.poll() is None:
            return
        self.reap()
        self.failures = 1 if now - self.started_at >= policy.stable_s else self.failures + 1
        delay = min(policy.restart_max_s, policy.restart_base_s * 2 ** (self.failures - 1))
        self.out.line("system", f"{self.name} exited (exit {self.proc.returncode}); restarting in {delay:g} s")
        self.restart_at = now + delay

    def reap(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # what it left behind (a pool child) goes too
        if self.pump is not None:
            self.pump.join(timeout=1)


def _stop(children: list[Child], grace_s: float, hurry: threading.Event, out: _Output) -> None:
    """SIGTERM to each process itself; after the grace (or a second Ctrl-C), SIGKILL to its session."""
    began = time.monotonic()
    live = [c for c in children if c.running()]
    for child in live:
        child.proc.send_signal(signal.SIGTERM)
    while live:
        late = time.monotonic() - began >= grace_s or hurry.is_set()
        for child in [c for c in live if late or not c.running()]:
            if child.running():
                out.line("system", f"{child.name} did not stop within {grace_s:g} s: killing it")
            child.reap()
            child.proc.wait()
            took = time.monotonic() - began
            out.line("system", f"{child.name} stopped (exit {child.proc.returncode}) after {took:.1f} s")
            live.remove(child)
        time.sleep(0.05)


def run(procfile: Path, policy: Policy) -> int:
    entries = read_procfile(procfile)
    out = _Output(max(len(name) for name, _ in entries) + 2)
    stopping, hurry = threading.Event(), threading.Event()

    def on_signal(*_):
        (hurry if stopping.is_set() else stopping).set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    children = [Child(name, command, out) for name, command in entries]
    for child in children:
        child.start()
    while not stopping.wait(0.1):
        for child in children:
            child.tend(policy)
    out.line("system", "stopping")
    _stop(children, policy.grace_s, hurry, out)
    return 0


def main(argv: list[str]) -> int:
    procfile = Path(argv[0] if argv else "Procfile")
    return run(procfile, Policy.from_env(dict(os.environ)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
