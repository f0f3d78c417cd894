"""Backups on a real Celery worker: started through the API, killed mid-backup (SIGKILL), one
target at a time, and a full disk, each leaving nothing wrong behind."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from backups import services
from backups.models import Backup, Status, TargetLock
from backups.targets import target_keys
from pitchey_incidents.models import Event
from pitchey_incidents.testing import ROOT, child_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
MIB = 1 << 20


def _env(paths: Path, **extra) -> dict:
    return {"BACKUP_DIR": str(paths / "backups"), "MEDIA_DIR": str(paths / "media"), "CONFIG_PATHS": "", **extra}


def _status(backup_id: int) -> str:
    return Backup.objects.get(id=backup_id).status


def test_worker_runs_a_backup_started_through_the_api(worker, api, backup_paths):
    (backup_paths / "media" / "a.bin").write_bytes(os.urandom(MIB))
    worker(**_env(backup_paths, BACKUP_MAX_BYTES_PER_S=str(MIB)))  # about a second: progress is reported
    answer = api("commander").post("/api/v1/backups/", {"kind": "media"}, format="json")
    assert answer.status_code == 202
    backup_id = answer.json()["id"]
    wait_for(lambda: _status(backup_id) in ("succeeded", "failed"), timeout=90, message="the backup to finish")
    body = api("viewer").get(f"/api/v1/backups/{backup_id}/").json()
    assert body["status"] == "succeeded", body["error"]
    assert body["progress"]["phase"] == "done" and body["verification"]["ok"]
    assert [loc["tier"] for loc in body["locations"]] == ["local"]
    progress = Event.objects.filter(kind="backup.progress", subject=f"backup:{backup_id}").order_by("id")
    assert progress.exists()
    times = [e.at for e in progress]
    assert all((b - a).total_seconds() >= 0.4 for a, b in zip(times, times[1:], strict=False))


def test_sigkill_mid_backup_is_swept_as_failed_and_cleaned(worker, backup_paths):
    (backup_paths / "media" / "big.bin").write_bytes(os.urandom(4 * MIB))
    proc = worker(**_env(backup_paths, BACKUP_MAX_BYTES_PER_S=str(256 * 1024)))  # ~16 s if left alone
    backup = services.backup_start(kind="media", actor="t")
    work = backup_paths / "backups" / ".tmp" / f"backup-{backup.id}"

    def midway():
        b = Backup.objects.get(id=backup.id)
        return b.status == "running" and (b.progress.get("done_bytes") or 0) > 0 and any(work.glob("*.part"))

    wait_for(midway, timeout=60, message="the backup to be midway")
    proc.kill()
    assert _status(backup.id) == "running"
    assert TargetLock.objects.filter(backup_id=backup.id).exists()

    wait_for(lambda: services.backups_sweep(heartbeat_timeout_s=1)["failed"], timeout=30, message="the sweep")
    backup.refresh_from_db()
    assert backup.status == Status.FAILED and "heartbeat stopped" in backup.error
    assert not work.exists()
    assert not [p for p in (backup_paths / "backups").rglob("*") if p.is_file()]
    assert not TargetLock.objects.exists() and not backup.locations.exists()
    # Sweeping again changes nothing; the target is free for the next backup.
    assert services.backups_sweep(heartbeat_timeout_s=1)["failed"] == 0
    again = services.backup_start(kind="media", actor="t", inline=True)
    assert again.status == Status.SUCCEEDED
    assert _status(backup.id) == "failed"


def test_a_busy_target_keeps_the_second_backup_queued(backup_paths):
    first = Backup.objects.create(kind="media", status=Status.RUNNING)

    TargetLock.objects.create(target=target_keys("media")[0], backup=first)
    second = Backup.objects.create(kind="full")  # full reads media too
    assert services.backup_execute(backup_id=second.id) == "busy"
    second.refresh_from_db()
    assert second.status == Status.QUEUED and second.started_at is None
    assert services.backup_execute(backup_id=Backup.objects.create(kind="config").id) == "done"
    TargetLock.objects.all().delete()
    assert services.backup_execute(backup_id=second.id) == "done"
    assert _status(second.id) == "succeeded"


def test_two_backups_of_one_target_on_two_workers_never_overlap(worker, backup_paths):
    (backup_paths / "media" / "a.bin").write_bytes(os.urandom(MIB))
    worker(concurrency=2, **_env(backup_paths, BACKUP_MAX_BYTES_PER_S=str(2 * MIB)))
    a = services.backup_start(kind="media", actor="t")
    b = services.backup_start(kind="media", actor="t")
    wait_for(lambda: {_status(a.id), _status(b.id)} == {"succeeded"}, timeout=120, message="both backups to succeed")
    a.refresh_from_db()
    b.refresh_from_db()
    first, second = sorted([a, b], key=lambda x: x.started_at)
    assert second.started_at >= first.finished_at


def test_disk_full_fails_cleanly(backup_paths, transactional_db):
    """The backup process may write at most 3 MB (RLIMIT_FSIZE): writes fail as on a full disk."""
    (backup_paths / "media" / "big.bin").write_bytes(os.urandom(8 * MIB))

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (3 * MIB, 3 * MIB))

    done = subprocess.run(
        [sys.executable, "manage.py", "backup", "media", "--inline"],
        cwd=ROOT,
        env=child_env(**_env(backup_paths)),
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "failed" in done.stderr and "Traceback" not in done.stderr
    backup = Backup.objects.get()
    assert backup.status == Status.FAILED and "File too large" in backup.error
    assert not [p for p in (backup_paths / "backups").rglob("*") if p.is_file()]
    assert not TargetLock.objects.exists()
