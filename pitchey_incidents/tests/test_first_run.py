"""`make run` on a fresh state folder: it writes var/local.env, prints the real address, every README
command then works without extra variables, and Ctrl-C stops web, worker and beat without a kill."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pitchey_incidents import localenv
from pitchey_incidents.testing import ROOT, free_port, wait_for

PY = str(ROOT / ".venv" / "bin" / "python")
# Longer than make run's 8 s: on a busy machine (the suite runs on every core) the worker on the embedded broker
# can take most of 8 s to stop by itself. What is checked is that each process stops by itself, not how fast.
STOP_GRACE_S = 20


def test_localenv_fills_only_what_the_environment_leaves_unset(tmp_path):
    environ = {"VAR_DIR": str(tmp_path), "PORT": "9123"}
    file, created = localenv.init(environ)
    assert created and file == tmp_path / "local.env" and oct(file.stat().st_mode & 0o777) == "0o600"
    values = localenv.parse(file.read_text())
    assert values["DEBUG"] == "1" and values["PORT"] == "9123" and len(values["SECRET_KEY"]) >= 50
    assert localenv.init(environ) == (file, False)  # a second run keeps the key

    env = {"VAR_DIR": str(tmp_path), "DEBUG": "0"}
    applied = localenv.load(env)
    assert env["DEBUG"] == "0" and "DEBUG" not in applied  # the real environment wins
    assert env["SECRET_KEY"] == values["SECRET_KEY"] and env["PORT"] == "9123"
    assert localenv.load({"VAR_DIR": str(tmp_path / "none")}) == {}
    assert localenv.url({"HOST": "0.0.0.0", "PORT": "9123"}) == "http://localhost:9123"
    assert localenv.url({"HOST": "::1", "PORT": "80"}) == "http://[::1]:80"


def _readme_commands() -> str:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Command line", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return block


def _base_env(state: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    for name in ("DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "TESTING", "PORT", "HOST", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    env.update(VAR_DIR=str(state), PYTHONUNBUFFERED="1")
    return env


def _sh(env: dict[str, str], command: str, expect: int = 0) -> str:
    """A README command as a newcomer types it: no DEBUG=1, no SECRET_KEY, no PORT."""
    done = subprocess.run(
        command.replace("python manage.py", f"{PY} manage.py"), shell=True, cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    said = f"{command!r} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert done.returncode == expect, said
    assert "Traceback" not in done.stderr, said
    return done.stdout


def _wait_ready(run: subprocess.Popen, port: int) -> None:
    def ready() -> bool:
        if run.poll() is not None:
            return True
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    # Every 503 costs the starting web server a request: ask a few times a second, not twenty.
    wait_for(ready, timeout=180, interval=0.25, message="make run to answer /readyz")


# Commands that need nothing from one another, run two at a time (each is a Python start-up, about a
# second of one core's time). The incident's own commands run in order, one after another; the two
# recovery runs too. Each still runs in the state `make run` made, and must work there.
OTHERS = (
    "python manage.py incident list",
    "python manage.py incident list --all --json",
    "python manage.py createuser alice --role commander --email alice@example.com",
    "scripts/incident-response.sh list",
    "printf '2\\nq\\n' | scripts/incident-response.sh menu",
    "python manage.py alertsource create prometheus --kind alertmanager",
    "python manage.py recover list",
    "python manage.py backup list",
    "scripts/backup-automation.sh setup-cron",
)
# A recovery run on an install with no provider set up proves nothing: inconclusive (exit 3), naming what
# to set (no traceback).
INCONCLUSIVE = (
    "scripts/disaster-recovery.sh full --dry-run --inline",
    "python manage.py recover database --dry-run --inline",
)


def _incident_from_start_to_detect(env: dict[str, str]) -> list[str]:
    started = _sh(env, 'scripts/incident-response.sh start P0 "Database Outage" "Primary database not responding"')
    inc = re.search(r"INC-\d+", started).group(0)
    commands = [
        f"python manage.py incident show {inc}",
        f"python manage.py incident ack {inc}",
        f"python manage.py incident mitigate {inc} enable_maintenance --dry-run --inline",
        f"python manage.py incident resolve {inc} 'Automated mitigation successful'",
        "scripts/incident-response.sh detect",
    ]
    for command in commands:
        _sh(env, command)
    return [f"x.sh start {inc}", *commands]


def _inconclusive_recoveries(env: dict[str, str]) -> list[str]:
    for command in INCONCLUSIVE:
        said = _sh(env, command, expect=3)
        assert "inconclusive" in said and "configure:" in said and "Traceback" not in said
    return list(INCONCLUSIVE)


def _doctor(env: dict[str, str]) -> list[str]:
    # A fresh install pages nobody: doctor says so, and exits 1 until PagerDuty or Slack is set up.
    assert "A P0 will page nobody" in _sh(env, "python manage.py doctor", expect=1)
    return ["python manage.py doctor"]


def _one(env: dict[str, str], command: str) -> list[str]:
    _sh(env, command)
    return [command]


def _run_readme_commands(env: dict[str, str]) -> list[str]:
    """Every command of the README's command-line block; returns them as run."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        lanes = [pool.submit(_incident_from_start_to_detect, env), pool.submit(_inconclusive_recoveries, env)]
        lanes += [pool.submit(_doctor, env), *(pool.submit(_one, env, command) for command in OTHERS)]
        return [command for lane in lanes for command in lane.result()]


def _ctrl_c(run: subprocess.Popen) -> float:
    stopped_at = time.monotonic()
    if run.poll() is None:
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    try:
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    return time.monotonic() - stopped_at


def test_every_readme_command_works_after_make_run_and_ctrl_c_stops_all(tmp_path):
    state, port = tmp_path / "state", free_port()
    env = _base_env(state, port)
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        run = subprocess.Popen(
            ["make", "run"], cwd=ROOT, env={**env, "PORT": str(port), "RUN_STOP_GRACE_S": str(STOP_GRACE_S)},
            stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_ready(run, port)
        output = log_path.read_text(errors="replace")
        assert run.poll() is None, output[-3000:]
        assert f"http://127.0.0.1:{port}/accounts/login/" in output and "localhost:8000" not in output
        values = localenv.parse((state / "local.env").read_text())
        assert values["DEBUG"] == "1" and values["PORT"] == str(port) and values["SECRET_KEY"]
        ran = _run_readme_commands(env)
        # Every command the README's command-line block names was run above.
        for named in set(re.findall(r"(?:manage\.py|scripts/[\w-]+\.sh) (\w+)", _readme_commands())):
            assert any(re.search(rf"(?:manage\.py|\.sh) {named}\b", c) for c in ran), named
    finally:
        took = _ctrl_c(run)
    output = log_path.read_text(errors="replace")
    assert "killing it" not in output, output[-3000:]
    assert re.search(r"worker stopped \(exit 0\)", output) and re.search(r"beat stopped \(exit 0\)", output)
    assert re.search(r"web stopped \(exit (0|-15)\)", output)
    assert took < STOP_GRACE_S + 4, f"Ctrl-C took {took:.1f} s"  # the runner kills what is left after the grace
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2)
