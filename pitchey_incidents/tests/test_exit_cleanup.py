"""A test run that is killed (SIGTERM: a CI timeout, say) ends the servers its tests started: they
run in sessions of their own, so the signal never reaches them. A real pytest run, in a child
process, starts a server through ``Proc`` and is sent SIGTERM while its test is still running."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from pitchey_incidents.testing import ROOT, child_env, wait_for

INNER = """
import time
from pathlib import Path

from pitchey_incidents.testing import Proc


def test_holds_a_server(tmp_path):
    proc = Proc(["sleep", "600"], env={}, log_path=tmp_path / "sleep.log")
    Path(PIDFILE).write_text(str(proc.popen.pid))
    time.sleep(600)  # until the run is killed
"""


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent that is gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_a_killed_test_run_ends_the_servers_its_tests_started(tmp_path):
    pidfile = tmp_path / "server.pid"
    # Under the checkout (var/ is ignored by git), so that the project's conftest applies to it.
    folder = Path(tempfile.mkdtemp(prefix="exit-cleanup-", dir=ROOT / "var"))
    (folder / "test_inner_run.py").write_text(INNER.replace("PIDFILE", repr(str(pidfile))))
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(folder)]
    run = subprocess.Popen(argv, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: pidfile.exists() or run.poll() is not None, timeout=120, message="the inner test's server")
        assert run.poll() is None, run.stdout.read().decode()[-3000:]
        server = int(pidfile.read_text())
        assert running(server)
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
        assert run.returncode == -signal.SIGTERM  # it still dies of the signal, as it would have
        wait_for(lambda: not running(server), timeout=30, message="the server to be ended")
    finally:
        run.kill()
        run.wait()
        if pidfile.exists() and running(server := int(pidfile.read_text())):
            os.kill(server, signal.SIGKILL)  # what the run failed to end: not left to the machine
        shutil.rmtree(folder, ignore_errors=True)
