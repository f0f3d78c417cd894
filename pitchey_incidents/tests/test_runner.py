"""`make run`'s process runner: a process that dies is started again with backoff, and Ctrl-C stops
everything within the grace (SIGTERM, then SIGKILL), the real web server, worker and beat included."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from pitchey_incidents.celery import app
from pitchey_incidents.testing import ROOT, child_env, free_port, wait_for

PY = sys.executable


def _runner(tmp_path: Path, procfile: str, **env: str) -> tuple[subprocess.Popen, Path]:
    (tmp_path / "Procfile").write_text(procfile)
    log = tmp_path / "runner.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PY, "-m", "pitchey_incidents.runner", str(tmp_path / "Procfile")],
            cwd=ROOT,
            env=child_env(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) is not running
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def _ctrl_c(proc: subprocess.Popen, *, within: float) -> int:
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does: the runner's group only
    try:
        return proc.wait(timeout=within)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_process_that_dies_is_started_again_with_growing_backoff(tmp_path):
    pids = tmp_path / "pids"
    crasher = f"{PY} -c \"import os; open('{pids}', 'a').write(f'{{os.getpid()}}\\n'); raise SystemExit(3)\""
    steady = f'{PY} -c "import time; time.sleep(600)"'
    proc, log = _runner(
        tmp_path, f"crasher: {crasher}\nsteady: {steady}\n", RUN_RESTART_BASE_S="0.1", RUN_RESTART_MAX_S="0.4"
    )
    try:
        wait_for(lambda: pids.exists() and len(pids.read_text().split()) >= 5, timeout=30, message="five starts")
    finally:
        code = _ctrl_c(proc, within=15)
    out = log.read_text()
    delays = [float(d) for d in re.findall(r"crasher exited \(exit 3\); restarting in ([\d.]+) s", out)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.4], out  # doubling, up to the cap
    assert len(re.findall(r"steady started", out)) == 1  # the others are left alone
    assert code == 0 and "steady stopped" in out


def test_ctrl_c_kills_what_ignores_sigterm_after_the_grace(tmp_path):
    ready = tmp_path / "ready"
    stubborn = (
        f'{PY} -c "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); '
        f"open('{ready}', 'w').write('x'); time.sleep(600)\""
    )
    proc, log = _runner(tmp_path, f"stubborn: {stubborn}\n", RUN_STOP_GRACE_S="0.5")
    wait_for(ready.exists, timeout=30, message="the stubborn process to start")
    pid = int(re.search(r"stubborn started \(pid (\d+)\)", log.read_text()).group(1))
    assert _ctrl_c(proc, within=10) == 0
    out = log.read_text()
    assert "stubborn did not stop within 0.5 s: killing it" in out and "stubborn stopped (exit -9)" in out
    assert not _alive(pid)


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_stops_web_worker_and_beat_cleanly_within_the_grace(tmp_path):
    """The Procfile's own web, worker and beat lines: each exits by itself on SIGTERM, none is killed."""
    lines = [
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.split(":")[0] in {"web", "worker", "beat"}
    ]
    port = free_port()
    beat_file = tmp_path / "beat-schedule"
    # Ctrl-C comes as soon as the worker is ready: with no work arriving then. A task the worker receives while
    # it shuts down can hold it past any grace; beat's first tick would send the first backups (due at once on
    # a new install) and the queues may hold what earlier tests sent.
    # Every schedule that never ran is due at once (the interval ones too: the sweep, the slot guard).
    PeriodicTask.objects.filter(last_run_at__isnull=True).update(last_run_at=timezone.now())
    app.control.purge()
    procfile = "\n".join(lines).replace("beat --loglevel", f"beat -s {beat_file} --loglevel") + "\n"
    # A grace well over the few seconds each needs: on a busy machine (the suite runs on every core) a worker
    # may need more than make run's 8 s; what is checked is that each stops by itself.
    proc, log = _runner(tmp_path, procfile, PORT=str(port), RUN_STOP_GRACE_S="20", DEBUG="1")
    try:
        wait_for(lambda: "ready." in log.read_text(), timeout=90, message="the worker to be ready")
        wait_for(lambda: "beat: Starting" in log.read_text(), timeout=30, message="beat to start")
    finally:
        code = _ctrl_c(proc, within=25)
    out = log.read_text()
    pids = [int(p) for p in re.findall(r"started \(pid (\d+)\)", out)]
    assert code == 0 and "killing it" not in out, out[-3000:]
    for name in ("web", "worker", "beat"):
        assert re.search(rf"{name} stopped \(exit (0|-15)\)", out), out[-3000:]
    assert len(pids) == 3 and not any(_alive(pid) for pid in pids)


def test_compose_restarts_every_long_lived_process():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {name: s.get("restart") for name, s in compose["services"].items()} == {
        name: "unless-stopped" for name in compose["services"]
    }
