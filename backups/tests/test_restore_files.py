"""Restoring config, media and full backups: checksums first, an atomic swap, the previous content
kept until the restored files verify, hostile archives refused, and every fault leaving the target
as it was."""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard
from django.core.management import call_command
from django.core.management.base import CommandError

from backups import restores, services
from backups.models import Backup, BackupLocation, Restore, Status
from backups.restore import scratch_database
from pitchey_incidents.errors import DomainError
from pitchey_incidents.testing import ROOT, child_env

from .conftest import fingerprint

pytestmark = pytest.mark.django_db(transaction=True)


def tree(root: Path) -> dict[str, str]:
    """Every regular file under ``root``: relative path → SHA-256 (what byte for byte means here)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".restore-" in p.name)


def _fill_media(media: Path) -> None:
    (media / "posters").mkdir()
    (media / "posters" / "a.jpg").write_bytes(os.urandom(200_000))
    (media / "notes.txt").write_text("hello " * 500)
    (media / "keep.txt").write_text("unchanged")
    os.symlink("notes.txt", media / "link.txt")


def _artifact(backup: Backup) -> Path:
    return Path(backup.locations.get(tier="local").uri.removeprefix("file://"))


@pytest.fixture
def media_backup(backup_paths):
    media = backup_paths / "media"
    _fill_media(media)
    backup = services.backup_start(kind="media", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    return backup, media, tree(media)


def _damage(media: Path) -> None:
    (media / "notes.txt").write_text("changed")
    (media / "posters" / "a.jpg").unlink()
    (media / "new.bin").write_bytes(b"added after the backup")


def test_dry_run_lists_what_would_change_and_touches_nothing(media_backup):
    backup, media, _ = media_backup
    _damage(media)
    before = tree(media)
    row = restores.restore_start(backup=backup, actor="t", dry_run=True)
    assert row.status == Status.SUCCEEDED and row.dry_run
    assert row.changes == {
        "added": [str(media / "posters/a.jpg")],
        "replaced": [str(media / "notes.txt")],
        "removed": [str(media / "new.bin")],
    }
    assert tree(media) == before and leftovers(media.parent) == []


def test_media_restore_brings_back_every_file_byte_for_byte(media_backup):
    backup, media, original = media_backup
    _damage(media)
    row = restores.restore_start(backup=backup, actor="t", inline=True)
    row.refresh_from_db()
    assert row.status == Status.SUCCEEDED, row.error
    assert tree(media) == original
    assert os.readlink(media / "link.txt") == "notes.txt"
    assert leftovers(media.parent) == [] and row.journal == []
    assert "3 files restored from local" in row.detail
    assert row.changes["removed"] == [str(media / "new.bin")]


def test_every_media_file_deleted_comes_back(media_backup):
    backup, media, original = media_backup
    for path in sorted(media.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
    assert tree(media) == {}
    call_command("backup", "restore", str(backup.id), stdout=io.StringIO())
    assert tree(media) == original


def test_restore_into_another_folder_and_the_force_rule(media_backup, tmp_path):
    backup, media, original = media_backup
    fresh = tmp_path / "elsewhere"
    restores.restore_start(backup=backup, actor="t", into=str(fresh), inline=True)
    assert tree(fresh) == original and tree(media) == original
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "theirs.txt").write_text("not ours")
    with pytest.raises(DomainError) as refused:
        restores.restore_start(backup=backup, actor="t", into=str(foreign))
    assert refused.value.field == "force" and "not empty" in refused.value.message
    assert (foreign / "theirs.txt").read_text() == "not ours" and not Restore.objects.filter(into=str(foreign))
    out = io.StringIO()
    with pytest.raises(CommandError, match="force"):
        call_command("backup", "restore", str(backup.id), "--into", str(foreign), stdout=out)
    call_command("backup", "restore", str(backup.id), "--into", str(foreign), "--force", stdout=out)
    assert tree(foreign) == original
    # Never the filesystem's root, nor a folder that holds the backups (even with force).
    for unsafe in ("/", str(media.parent), str(media.parent / "backups" / "media")):
        with pytest.raises(DomainError) as refused:
            restores.restore_start(backup=backup, actor="t", into=unsafe, force=True)
        assert refused.value.field == "into" and "BACKUP_DIR" in refused.value.message
    # Inside the configured target needs no force.
    inside = media / "posters"
    restores.restore_start(backup=backup, actor="t", into=str(inside), inline=True)
    assert (inside / "notes.txt").exists()


def test_config_restores_into_config_paths_and_into_a_folder(settings, backup_paths):
    etc = backup_paths / "etc"
    (etc / "conf.d").mkdir(parents=True)
    (etc / "conf.d" / "app.ini").write_text("[app]\nworkers = 4\n")
    single = backup_paths / "single.env"
    single.write_text("A=1\n")
    settings.CONFIG_PATHS = [str(etc), str(single)]
    backup = services.backup_start(kind="config", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    original_etc, original_single = tree(etc), single.read_text()
    (etc / "conf.d" / "app.ini").write_text("broken")
    single.write_text("B=2\n")
    row = restores.restore_start(backup=backup, actor="t", inline=True)
    row.refresh_from_db()
    assert row.status == Status.SUCCEEDED, row.error
    assert tree(etc) == original_etc and single.read_text() == original_single
    assert sorted(row.changes["replaced"]) == sorted([str(etc / "conf.d/app.ini"), str(single)])
    assert "outside CONFIG_PATHS" in row.detail  # settings.json
    assert leftovers(backup_paths) == []
    out = backup_paths / "config-copy"
    restores.restore_start(backup=backup, actor="t", into=str(out), inline=True)
    assert json.loads((out / "settings.json").read_text())["SECRET_KEY"] == "***"
    assert (out / ("config" + str(etc.resolve())) / "conf.d" / "app.ini").read_text() == "[app]\nworkers = 4\n"


def test_config_restore_with_nothing_configured_says_where_to_restore(settings, backup_paths):
    backup = services.backup_start(kind="config", actor="t", inline=True)
    with pytest.raises(DomainError) as refused:
        restores.restore_start(backup=backup, actor="t")
    assert refused.value.field == "into" and "outside CONFIG_PATHS" in refused.value.message


def test_full_restores_each_part(settings, backup_paths, tmp_path):
    media = backup_paths / "media"
    _fill_media(media)
    etc = backup_paths / "etc"
    etc.mkdir()
    (etc / "app.ini").write_text("x=1\n")
    settings.CONFIG_PATHS = [str(etc)]
    backup = services.backup_start(kind="full", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    original_media, original_etc = tree(media), tree(etc)
    _damage(media)
    (etc / "app.ini").unlink()
    row = restores.restore_start(backup=backup, actor="t", inline=True)
    row.refresh_from_db()
    assert row.status == Status.SUCCEEDED, row.error
    assert tree(media) == original_media and tree(etc) == original_etc
    assert "database: not restored" in row.detail
    out = tmp_path / "full-copy"
    restores.restore_start(backup=backup, actor="t", into=str(out), inline=True)
    assert tree(out / "media") == original_media
    assert (out / "config" / ("config" + str(etc.resolve())) / "app.ini").read_text() == "x=1\n"


@pytest.mark.postgres
def test_full_restores_its_database_part_into_a_database(settings, backup_paths, pg_target):
    backup = services.backup_start(kind="full", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    with scratch_database() as scratch:
        row = restores.restore_start(backup=backup, actor="t", database_url=scratch, inline=True)
        row.refresh_from_db()
        assert row.status == Status.SUCCEEDED, row.error
        assert fingerprint(scratch) == fingerprint(pg_target)
    assert row.database_url == "" and "database: 3 tables, 3500 rows" in row.detail


# --- faults: the target is left as it was, and the error names the cause --------------------------


def test_a_damaged_copy_is_refused_before_anything_is_touched(media_backup):
    backup, media, _ = media_backup
    _damage(media)
    before = tree(media)
    artifact = _artifact(backup)
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    row = restores.restore_start(backup=backup, actor="t", inline=True)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "no intact copy" in row.error and "SHA-256 differs from the manifest" in row.error
    assert tree(media) == before and leftovers(media.parent) == []


def test_a_missing_copy_is_named(media_backup):
    backup, media, _ = media_backup
    _damage(media)
    before = tree(media)
    _artifact(backup).unlink()
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("backup", "restore", str(backup.id), stdout=out)
    assert "no intact copy" in str(failed.value) and "local: missing" in str(failed.value)
    assert tree(media) == before and leftovers(media.parent) == []


@pytest.mark.postgres  # the write limit would hit a SQLite catalog's own file too
def test_a_full_disk_during_the_restore_leaves_the_target_as_it_was(media_backup, backup_paths):
    """The restoring process may write at most 100 kB (RLIMIT_FSIZE): writes fail as on a full disk."""
    backup, media, _ = media_backup
    _damage(media)
    before = tree(media)

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    env = child_env(BACKUP_DIR=str(backup_paths / "backups"), MEDIA_DIR=str(media), CONFIG_PATHS="")
    done = subprocess.run(
        [sys.executable, "manage.py", "backup", "restore", str(backup.id)],
        cwd=ROOT,
        env=env,
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "disk full" in done.stderr and "File too large" in done.stderr
    assert tree(media) == before and leftovers(media.parent) == []
    assert Restore.objects.get().status == Status.FAILED


def _hostile_backup(backup_paths: Path, members: list[tarfile.TarInfo]) -> Backup:
    """A media backup whose archive holds ``members``, with a manifest whose checksums match it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        good = tarfile.TarInfo("media/fine.txt")
        good.size = 4
        tar.addfile(good, io.BytesIO(b"fine"))
        for member in members:
            tar.addfile(member, io.BytesIO(b"evil") if member.isreg() else None)
    stored = zstandard.ZstdCompressor().compress(raw.getvalue())
    folder = backup_paths / "backups" / "media"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "media-hostile.media.tar.zst").write_bytes(stored)
    part = {
        "part": "media",
        "file": "media-hostile.media.tar.zst",
        "format": "tar",
        "compression": "zstd",
        "size": len(stored),
        "sha256": hashlib.sha256(stored).hexdigest(),
        "uncompressed_size": len(raw.getvalue()),
        "files": [{"path": "media/fine.txt", "size": 4, "sha256": hashlib.sha256(b"fine").hexdigest()}],
    }
    backup = Backup.objects.create(kind="media", status=Status.SUCCEEDED, manifest={"kind": "media", "parts": [part]})
    BackupLocation.objects.create(backup=backup, tier="local", uri=f"file://{folder / part['file']}")
    return backup


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = 4 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    ("members", "named"),
    [
        ([_member("media/../../escaped.txt")], "path leaves the destination"),
        ([_member("/tmp/absolute.txt")], "path leaves the destination"),
        ([_member("media/etc", tarfile.SYMTYPE, "/etc")], "outside the destination"),
        ([_member("media/up", tarfile.SYMTYPE, "../../..")], "outside the destination"),
        (
            [
                _member("media/d", tarfile.DIRTYPE),
                _member("media/d/l", tarfile.SYMTYPE, ".."),  # the destination itself: allowed
                _member("media/d/l/m", tarfile.SYMTYPE, ".."),  # d/l/.. is the destination's parent
            ],
            "outside the destination",
        ),
        ([_member("media/hard", tarfile.LNKTYPE, "/etc/passwd")], "outside the destination"),
        ([_member("media/dev", tarfile.CHRTYPE)], "not a regular file"),
    ],
)
def test_hostile_archives_are_refused(backup_paths, members, named):
    media = backup_paths / "media"
    (media / "mine.txt").write_text("mine")
    backup = _hostile_backup(backup_paths, members)
    row = restores.restore_start(backup=backup, actor="t", inline=True)
    row.refresh_from_db()
    assert row.status == Status.FAILED and "refused" in row.error and named in row.error, row.error
    assert tree(media) == {"mine.txt": hashlib.sha256(b"mine").hexdigest()}
    assert leftovers(backup_paths) == []
    assert not (backup_paths / "escaped.txt").exists() and not Path("/tmp/absolute.txt").exists()


# --- the API ---------------------------------------------------------------------------------------


def test_api_restore_dry_run_and_bad_input(media_backup, api, tmp_path):
    backup, media, original = media_backup
    _damage(media)
    commander = api("commander")
    dry = commander.post(f"/api/v1/backups/{backup.id}/restore/", {"dry_run": True}, format="json")
    assert dry.status_code == 200
    assert dry.json()["changes"]["removed"] == [str(media / "new.bin")] and dry.json()["status"] == "succeeded"
    bad = commander.post(f"/api/v1/backups/{backup.id}/restore/", {"into": "relative/dir"}, format="json")
    assert bad.status_code == 400 and "into" in json.dumps(bad.json())
    typo = commander.post(f"/api/v1/backups/{backup.id}/restore/", {"dry_run": "perhaps"}, format="json")
    assert typo.status_code == 400 and "dry_run" in json.dumps(typo.json())
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x").write_text("x")
    refused = commander.post(f"/api/v1/backups/{backup.id}/restore/", {"into": str(foreign)}, format="json")
    assert refused.status_code == 400 and "force" in json.dumps(refused.json())
    assert api("viewer").post(f"/api/v1/backups/{backup.id}/restore/", {}, format="json").status_code == 403
    database = services.backup_start(kind="database", actor="t", inline=True)
    missing = commander.post(f"/api/v1/backups/{database.id}/restore/", {}, format="json")
    assert missing.status_code == 400 and "database_url" in json.dumps(missing.json())
    assert tree(media) != original  # nothing above touched it


def test_api_restore_is_followed_to_the_end(media_backup, api):
    backup, media, original = media_backup
    _damage(media)
    answer = api("commander").post(f"/api/v1/backups/{backup.id}/restore/", {}, format="json")
    assert answer.status_code == 202 and answer.json()["status"] == "queued"
    restore_id = answer.json()["id"]
    assert restores.restore_execute(restore_id=restore_id) == "done"  # what the worker runs
    assert restores.restore_execute(restore_id=restore_id) == "skipped"
    body = api("viewer").get(f"/api/v1/restores/{restore_id}/").json()
    assert body["status"] == "succeeded", body["error"]
    assert body["backup"] == backup.id and body["kind"] == "media" and body["finished_at"]
    assert tree(media) == original
    schema = api("viewer").get("/api/schema/?format=json").json()
    assert "/api/v1/backups/{id}/restore/" in schema["paths"] and "/api/v1/restores/{id}/" in schema["paths"]
