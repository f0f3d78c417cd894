"""User sessions: the protected Redis backed up with redis-cli --rdb every 5 minutes, verified by
loading it into a scratch redis-server, shown on the RPO page, restorable with stock redis-server."""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from backups import restores, selectors, services, tasks
from backups.models import Backup, BackupPolicy, Status
from pitchey_incidents.errors import DomainError
from pitchey_incidents.testing import free_port

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "s3cret-pass"


def _start_redis(folder: Path, port: int, *extra: str) -> subprocess.Popen:
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--appendonly", "no"]
    proc = subprocess.Popen([*argv, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    client = redis.Redis(port=port, password=PASSWORD if "--requirepass" in extra else None)
    while time.monotonic() < deadline:
        try:
            if client.info("persistence")["loading"] == 0:
                return proc
        except redis.RedisError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("redis-server did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def session_store(settings, tmp_path):
    """The protected session store: a real redis-server with a password, sessions in db 0 and 3."""
    folder = tmp_path / "session-store"
    folder.mkdir()
    port = free_port()
    # Redis 7 holds a snapshot for a replica (redis-cli --rdb) back 5 s by default, in case more
    # replicas want it: this store sends it at once.
    proc = _start_redis(folder, port, "--requirepass", PASSWORD, "--save", "", "--repl-diskless-sync-delay", "0")
    client = redis.Redis(port=port, password=PASSWORD)
    client.mset({f"session:{i}": json.dumps({"user": i}) for i in range(500)})
    client.expire("session:1", 3600)
    client.hset("user:7", mapping={"name": "seven", "role": "admin"})
    other = redis.Redis(port=port, password=PASSWORD, db=3)
    other.mset({f"csrf:{i}": "x" for i in range(20)})
    settings.TARGET_REDIS_URL = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    yield client
    _stop(proc)


def _keys(port: int) -> dict[str, int]:
    info = redis.Redis(port=port).info("keyspace")
    return {name: value["keys"] for name, value in info.items()}


def test_sessions_backup_verify_and_rpo(session_store, settings):
    assert {r["data_type"]: r["state"] for r in selectors.rpo_status()}["sessions"] == "unknown"
    backup = services.backup_start(kind="sessions", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    part = backup.manifest["parts"][0]
    assert part["format"] == "redis-rdb" and part["keys"] == {"0": 501, "3": 20}
    assert PASSWORD not in json.dumps(backup.manifest) and "***" in backup.manifest["redis"]
    verified = services.backup_verify(backup_id=backup.id, restore_test=True)
    assert verified.verification["ok"], verified.verification["detail"]
    details = " | ".join(c["detail"] for r in verified.verification["tiers"].values() for c in r["checks"])
    assert "loaded into a scratch redis-server" in details and "521 keys in 2 db(s) match" in details
    row = {r["data_type"]: r for r in selectors.rpo_status()}["sessions"]
    assert row["backup_kind"] == "sessions" and row["state"] == "ok" and row["target_s"] == 300


def test_a_snapshot_that_does_not_hold_what_the_manifest_says_fails_verification(session_store):
    backup = services.backup_start(kind="sessions", actor="t", inline=True)
    manifest = backup.manifest
    manifest["parts"][0]["keys"] = {"0": 999}
    Backup.objects.filter(id=backup.id).update(manifest=manifest)
    verified = services.backup_verify(backup_id=backup.id, restore_test=True)
    assert not verified.verification["ok"] and "differ from the manifest" in verified.verification["detail"]


def test_restorable_with_stock_redis_server_alone(session_store, tmp_path):
    """The README's one-liner, as written there, then the same through ``backup restore --into``."""
    backup = services.backup_start(kind="sessions", actor="t", inline=True)
    stored = Path(backup.locations.get().uri.removeprefix("file://"))
    plain = tmp_path / "plain"
    plain.mkdir()
    port = free_port()
    shell = f"zstd -dc {stored} > dump.rdb && exec redis-server --dir . --dbfilename dump.rdb --port {port} --save ''"
    proc = subprocess.Popen(["sh", "-c", shell], cwd=plain, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=port).info("persistence")["loading"] == 0:
                    break
            except redis.RedisError:
                time.sleep(0.05)
        assert _keys(port) == {"db0": 501, "db3": 20}
        assert redis.Redis(port=port).hgetall("user:7") == {b"name": b"seven", b"role": b"admin"}
        assert 0 < redis.Redis(port=port).ttl("session:1") <= 3600
    finally:
        _stop(proc)

    into = tmp_path / "restored"
    call_command("backup", "restore", str(backup.id), "--into", str(into), stdout=io.StringIO())
    port = free_port()
    proc = _start_redis(into, port, "--dbfilename", "dump.rdb", "--save", "")
    try:
        assert _keys(port) == {"db0": 501, "db3": 20}
    finally:
        _stop(proc)


def test_a_sessions_restore_needs_a_folder(session_store):
    backup = services.backup_start(kind="sessions", actor="t", inline=True)
    with pytest.raises(DomainError) as refused:
        restores.restore_start(backup=backup, actor="t")
    assert refused.value.field == "into" and "redis-server --dir DIR" in refused.value.message


def test_schedule_every_five_minutes_kept_briefly_and_skipped_without_a_store(settings):
    task = PeriodicTask.objects.get(name="backups: sessions")
    assert task.interval.every == 300 and task.interval.period == "seconds"
    assert json.loads(task.kwargs) == {"kind": "sessions"}
    policy = BackupPolicy.objects.get(kind="sessions")
    assert (policy.local_days, policy.cloud_days, policy.archive_days) == (1, 3, 7)
    settings.TARGET_REDIS_URL = ""
    assert tasks.backup_scheduled("sessions") is None and not Backup.objects.exists()
    failed = services.backup_start(kind="sessions", actor="t", inline=True)
    assert failed.status == Status.FAILED and "TARGET_REDIS_URL is not set" in failed.error
