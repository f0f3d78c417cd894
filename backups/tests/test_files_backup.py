"""Config, media, SQLite and full backups: what goes in, redaction, restore tests on files."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard
from django.core.management import call_command

from backups import services
from backups.models import Status
from backups.verify import verify_path

pytestmark = pytest.mark.django_db(transaction=True)


def _artifact(backup) -> Path:
    return Path(backup.locations.get(tier="local").uri.removeprefix("file://"))


def _details(backup) -> str:
    return " | ".join(c["detail"] for r in backup.verification["tiers"].values() for c in r["checks"])


def _members(path: Path) -> dict[str, bytes]:
    data = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}


def test_media_backup_streams_the_tree(backup_paths):
    media = backup_paths / "media"
    (media / "posters").mkdir()
    (media / "posters" / "a.jpg").write_bytes(os.urandom(300_000))
    (media / "notes.txt").write_text("hello " * 1000)
    os.symlink("notes.txt", media / "link.txt")
    backup = services.backup_start(kind="media", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    part = backup.manifest["parts"][0]
    assert {f["path"]: f["size"] for f in part["files"]} == {"media/notes.txt": 6000, "media/posters/a.jpg": 300_000}
    members = _members(_artifact(backup))
    assert members["media/posters/a.jpg"] == (media / "posters" / "a.jpg").read_bytes()
    # stock tools restore it too
    out = backup_paths / "restored"
    out.mkdir()
    subprocess.run(f"zstd -dc '{_artifact(backup)}' | tar -x -C '{out}'", shell=True, check=True)
    assert (out / "media" / "notes.txt").read_text() == "hello " * 1000
    assert os.readlink(out / "media" / "link.txt") == "notes.txt"
    verified = services.backup_verify(backup_id=backup.id, restore_test=True)
    assert verified.verification["ok"], verified.verification["detail"]
    assert "every SHA-256 matches" in _details(verified)


def test_config_backup_redacts_every_secret(settings, backup_paths):
    conf = backup_paths / "etc"
    conf.mkdir()
    (conf / "app.env").write_text("FEATURE=1\n")
    settings.CONFIG_PATHS = [str(conf)]
    settings.SECRET_KEY = "s3cr3t-signing-key-value"
    settings.AWS_SECRET_ACCESS_KEY = "aws-secret-value-123"
    settings.SLACK_WEBHOOK = "https://hooks.slack.com/services/T000/B000/xyzsecret"
    settings.TARGET_REDIS_URL = "redis://:redispass99@cache:6379/0"
    backup = services.backup_start(kind="config", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    members = _members(_artifact(backup))
    snapshot = members["settings.json"].decode()
    for secret in ("s3cr3t-signing-key-value", "aws-secret-value-123", "xyzsecret", "redispass99"):
        assert secret not in snapshot
    data = json.loads(snapshot)
    assert data["SECRET_KEY"] == "***" and data["TARGET_REDIS_URL"] == "redis://:***@cache:6379/0"
    assert data["TIME_ZONE"] == "UTC"
    assert any(name.endswith("/etc/app.env") for name in members)


def test_missing_config_path_fails_cleanly(settings, backup_paths):
    settings.CONFIG_PATHS = [str(backup_paths / "nope")]
    backup = services.backup_start(kind="config", actor="t", inline=True)
    assert backup.status == Status.FAILED and "does not exist" in backup.error
    assert not [p for p in (backup_paths / "backups").rglob("*") if p.is_file()]


def test_sqlite_backup_uses_the_online_backup_api(sqlite_target, backup_paths):
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    assert backup.format == "sqlite" and backup.manifest["parts"][0]["tables"] == {"notes": 400}
    restored = backup_paths / "restored.sqlite3"
    subprocess.run(f"zstd -dc '{_artifact(backup)}' > '{restored}'", shell=True, check=True)
    with sqlite3.connect(restored) as conn:
        assert conn.execute("select count(*), max(body) from notes").fetchone() == (400, "note 99 " * 20)
    verified = services.backup_verify(backup_id=backup.id, restore_test=True)
    assert verified.verification["ok"] and "400 rows match" in _details(verified)


def test_full_backup_holds_every_kind_under_one_manifest(sqlite_target, settings, backup_paths):
    (backup_paths / "media" / "m.bin").write_bytes(b"m" * 1000)
    backup = services.backup_start(kind="full", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    assert [p["part"] for p in backup.manifest["parts"]] == ["database", "config", "media"]
    manifests = list((backup_paths / "backups" / "full").glob("*.manifest.json"))
    assert len(manifests) == 1
    result = verify_path(manifests[0], depth="restore")
    assert result["ok"], result["detail"]
    assert len([c for c in result["checks"] if c["check"] == "restore"]) == 3


def test_verify_path_catches_a_flipped_byte_every_time(sqlite_target, backup_paths, capsys):
    backup = services.backup_start(kind="database", actor="t", inline=True)
    path = _artifact(backup)
    call_command("backup", "verify", str(path))
    assert "backup verified" in capsys.readouterr().out
    original = path.read_bytes()
    for offset in (0, len(original) // 2, len(original) - 1):
        flipped = bytearray(original)
        flipped[offset] ^= 0x01
        path.write_bytes(bytes(flipped))
        result = verify_path(path)
        assert not result["ok"] and "SHA-256" in result["detail"], offset
        with pytest.raises(Exception, match="verification failed"):
            call_command("backup", "verify", str(path))
    path.write_bytes(original[:-10])
    assert "size" in verify_path(path)["detail"]
    path.write_bytes(original)
    assert verify_path(path)["ok"]


def test_catalog_verify_catches_corruption_and_unmarks(sqlite_target, backup_paths):
    backup = services.backup_start(kind="database", actor="t", inline=True)
    path = _artifact(backup)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x80
    path.write_bytes(bytes(data))
    after = services.backup_verify(backup_id=backup.id)
    assert after.verified_at is None and not after.verification["ok"]
    assert "SHA-256" in after.verification["detail"]
    assert after.locations.get().verified_at is None


def test_verify_without_manifest_is_a_one_line_error(backup_paths):
    stray = backup_paths / "stray.dump.zst"
    stray.write_bytes(b"x")
    with pytest.raises(Exception, match="no manifest beside"):
        call_command("backup", "verify", str(stray))
