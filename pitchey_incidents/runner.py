"""Runs the Procfile's processes together (web, worker, beat) for `make run`.

Each process gets its own session; its output is prefixed with its name. Ctrl-C (SIGINT) or SIGTERM
sends SIGTERM to each process itself (not its process group), so the Celery worker shuts its pool
down in order instead of finding its children already dead; whatever is still running after
``RUN_STOP_GRACE_S`` (default 20) is killed. When one process exits, the others are stopped too.

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


def _start(entries: list[tuple[str, str]], out: _Output) -> tuple[dict[str, subprocess.Popen], list[threading.Thread]]:
    procs, pumps = {}, []
    for name, command in entries:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {command}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs[name] = proc
        out.line("system", f"{name} started (pid {proc.pid})")
        pump = threading.Thread(target=out.pump, args=(name, proc.stdout), daemon=True)
        pump.start()
        pumps.append(pump)
    return procs, pumps


def _stop(procs: dict[str, subprocess.Popen], grace_s: float, out: _Output) -> None:
    """SIGTERM to each process itself; after the grace, SIGKILL to whatever is left of its session."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(p.poll() is None for p in procs.values()):
        time.sleep(0.1)
    for name, proc in procs.items():
        if proc.poll() is None:
            out.line("system", f"{name} did not stop within {grace_s:g} s: killing it")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # a stray pool child goes with its process
        proc.wait()


def run(procfile: Path, grace_s: float) -> int:
    entries = read_procfile(procfile)
    out = _Output(max(len(name) for name, _ in entries) + 2)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    procs, pumps = _start(entries, out)
    while not stopping.is_set() and all(p.poll() is None for p in procs.values()):
        stopping.wait(0.2)
    first = next((name for name, p in procs.items() if p.poll() is not None), None)
    out.line("system", f"{first} exited; stopping the others" if first and not stopping.is_set() else "stopping")
    _stop(procs, grace_s, out)
    for pump in pumps:
        pump.join(timeout=1)
    for name, proc in procs.items():
        out.line("system", f"{name} stopped (exit {proc.returncode})")
    return 0 if stopping.is_set() else 1


def main(argv: list[str]) -> int:
    procfile = Path(argv[0] if argv else "Procfile")
    grace = float(os.environ.get("RUN_STOP_GRACE_S") or 20)
    return run(procfile, grace)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
