"""The runbook's scripts/backup-automation.sh and the CLI's progress bar (on a terminal only)."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command

from backups.models import Backup
from pitchey_incidents.testing import ROOT, child_env

pytestmark = pytest.mark.django_db(transaction=True)
SCRIPT = str(ROOT / "scripts" / "backup-automation.sh")


def _env(paths):
    return child_env(
        PYTHON=sys.executable, BACKUP_DIR=str(paths / "backups"), MEDIA_DIR=str(paths / "media"), CONFIG_PATHS=""
    )


def test_script_backup_verify_and_setup_cron(backup_paths):
    (backup_paths / "media" / "a.txt").write_text("x" * 50_000)
    env = _env(backup_paths)
    done = subprocess.run([SCRIPT, "backup", "media"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr  # no progress bar when stderr is not a terminal
    backup = Backup.objects.get()
    assert backup.status == "succeeded" and backup.trigger == "manual"
    artifact = backup.locations.get().uri.removeprefix("file://")
    verify = subprocess.run([SCRIPT, "verify", artifact], env=env, capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0 and "backup verified" in verify.stdout
    with open(artifact, "r+b") as fh:
        fh.seek(10)
        byte = fh.read(1)
        fh.seek(10)
        fh.write(bytes([byte[0] ^ 0xFF]))
    bad = subprocess.run([SCRIPT, "verify", artifact], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "verification failed" in bad.stderr and "Traceback" not in bad.stderr
    cron = subprocess.run([SCRIPT, "setup-cron"], env=env, capture_output=True, text=True, timeout=120)
    assert cron.returncode == 0 and "backups: database" in cron.stdout
    usage = subprocess.run([SCRIPT, "nonsense"], env=env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "usage" in usage.stderr


def test_progress_bar_on_a_terminal(backup_paths):
    (backup_paths / "media" / "b.bin").write_bytes(os.urandom(2 << 20))
    env = _env(backup_paths) | {"BACKUP_MAX_BYTES_PER_S": str(4 << 20)}  # about a second: several redraws
    primary, replica = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "backup", "media", "--inline"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=replica,
    )
    os.close(replica)
    drawn = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    proc.wait(timeout=120)
    os.close(primary)
    assert proc.returncode == 0
    text = drawn.decode(errors="replace")
    assert "\r" in text and "[" in text and "%" in text and "MB" in text


# Not loaded by a backup that prints a line: the web API's stack, outgoing HTTP, iCalendar, the recovery
# actions and their providers. Each costs the fixed start-up of every backup and restore (docs/backups.md).
NOT_AT_START = (
    "rest_framework.serializers",
    "drf_spectacular.utils",
    "requests",
    "icalendar",
    "recovery.actions.builtin",
    "recovery.providers.cloudflare",
)
LOADED = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('LOADED', *sorted(sys.modules), file=sys.stderr))\n"
    "sys.argv = ['manage.py', *sys.argv[1:]]\n"
    "runpy.run_path('manage.py', run_name='__main__')\n"
)


def _loaded_by(env, *args: str) -> tuple[set[str], str]:
    """The modules the command had loaded when it exited, and what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if line.startswith("LOADED "))
    return set(line.split()[1:]), done.stdout


def test_a_backup_and_its_json_load_only_what_they_use(backup_paths):
    (backup_paths / "media" / "a.txt").write_text("x" * 50_000)
    env = _env(backup_paths)
    loaded, _ = _loaded_by(env, "backup", "media", "--inline")
    assert "backups.services" in loaded and "backups.restore" in loaded  # the check sees the real command
    assert not [m for m in NOT_AT_START if m in loaded]
    backup = Backup.objects.get()
    assert backup.status == "succeeded"
    # --json answers as the API does, loading its serializers then.
    listed, out = _loaded_by(env, "backup", "list", "--json")
    assert "rest_framework.serializers" in listed and json.loads(out)[0]["id"] == backup.id
    # On the embedded defaults (the filesystem broker, no REDIS_URL) nothing of Redis loads.
    assert ("redis" in loaded) == settings.CELERY_BROKER_URL.startswith("redis")  # the check below sees it
    embedded = env | {"CELERY_BROKER_URL": "filesystem://", "REDIS_URL": ""}
    loaded, _ = _loaded_by(embedded, "backup", "media", "--inline")
    assert Backup.objects.filter(status="succeeded").count() == 2
    assert not [m for m in loaded if m == "redis" or m.startswith(("redis.", "kombu.transport.redis"))]


def test_backup_test_list_and_prune_commands(sqlite_target, capsys):

    call_command("backup", "test")
    out = capsys.readouterr().out
    assert "backup and restore test passed" in out
    backup = Backup.objects.get()
    checks = backup.verification["tiers"]["local"]["checks"]
    assert [c["check"] for c in checks] == ["checksum", "decompress", "list", "restore"]
    call_command("backup", "list")
    assert re.search(rf"^\s*{backup.id}\s+database\s+succeeded\s.*verified\s+local$", capsys.readouterr().out, re.M)
    call_command("backup", "prune", "--dry-run")
    assert "0 copies would delete" in capsys.readouterr().out
    with pytest.raises(Exception, match="no backup 999"):
        call_command("backup", "verify", "999")
