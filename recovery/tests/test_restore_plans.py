"""The media and config plans restore the newest verified copy when files are missing (from a
backup of that kind or the matching part of a full one), then purge the edge cache and verify; the
backup-restore drill restores every kind into scratch and compares it with the manifest."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sqlite3
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backups import restore, targets
from backups import services as backup_services
from backups.models import Restore
from backups.tests.test_sessions_backup import session_store  # noqa: F401
from recovery.models import RecoveryRun

from .fakes import FakeServer

pytestmark = pytest.mark.django_db(transaction=True)
ZONE = "zone-1"


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture
def protected(settings, tmp_path):
    """A protected platform: its media folder, config files, an edge cache (Cloudflare's API, as
    its spec says) and a media health URL served from the media folder."""
    media, etc = tmp_path / "protected-media", tmp_path / "protected-etc"
    media.mkdir()
    etc.mkdir()
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_DIR, settings.CONFIG_PATHS = str(media), [str(etc)]
    settings.R2_BUCKET = settings.R2_ARCHIVE_BUCKET = ""
    purges: list[str] = []

    def edge(method, path, body, headers):
        if method == "POST" and path == f"/client/v4/zones/{ZONE}/purge_cache" and body == {"purge_everything": True}:
            purges.append(path)
            return 200, {"success": True, "errors": [], "messages": [], "result": {"id": "purge-1"}}, {}
        if method == "GET" and path.startswith("/media/"):
            served = media / path.removeprefix("/media/")
            return (200, served.read_bytes(), {}) if served.is_file() else (404, {"error": "not found"}, {})
        return 404, {"success": False, "errors": [{"code": 7003, "message": "no route"}]}, {}

    server = FakeServer(edge)
    settings.CLOUDFLARE_API_URL = server.url + "/client/v4"
    settings.CF_API_TOKEN, settings.CF_ZONE_ID = "cf-token", ZONE
    settings.SERVICE_HEALTH_URLS = {**settings.SERVICE_HEALTH_URLS, "media": f"{server.url}/media/posters/a.jpg"}
    (media / "posters").mkdir()
    (media / "posters" / "a.jpg").write_bytes(os.urandom(150_000))
    (media / "notes.txt").write_text("hello " * 300)
    (etc / "app.ini").write_text("[app]\nworkers = 4\n")
    yield media, etc, purges
    server.close()


def _last_run(plan: str) -> RecoveryRun:
    return RecoveryRun.objects.filter(plan=plan).latest("id")


def test_deleting_every_media_file_and_recover_media_brings_them_back_byte_for_byte(protected):
    media, _, purges = protected
    original = tree(media)
    assert backup_services.backup_start(kind="media", actor="t", inline=True).status == "succeeded"
    for path in sorted(media.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    assert tree(media) == {}

    call_command("recover", "media", "--inline", stdout=io.StringIO())

    assert tree(media) == original
    run = _last_run("media")
    steps = {s.name: s for s in run.steps.all()}
    assert run.status == "succeeded", [(s.name, s.status, s.output) for s in steps.values()]
    assert steps["check_files"].status == "failed" and "2 of 2 media files missing" in steps["check_files"].output
    assert steps["restore"].status == "succeeded" and steps["restore"].verified_at
    assert steps["purge_restored"].status == "succeeded" and purges  # the edge cache purged after the restore
    assert steps["verify"].status == "succeeded"
    assert run.objectives.get(kind="rto", subject="media").achieved_s is not None
    assert run.objectives.get(kind="rpo", subject="media").achieved_s >= 0
    assert not [p for p in media.parent.iterdir() if ".restore-" in p.name]


def test_healthy_media_is_left_alone(protected):
    media, _, purges = protected
    backup_services.backup_start(kind="media", actor="t", inline=True)
    (media / "added-later.txt").write_text("new since the backup")
    call_command("recover", "media", "--inline", stdout=io.StringIO())
    run = _last_run("media")
    steps = {s.name: s for s in run.steps.all()}
    assert steps["check_files"].status == "succeeded" and steps["restore"].status == "skipped"
    assert (media / "added-later.txt").exists() and not purges and not Restore.objects.exists()


def test_config_comes_back_from_the_matching_part_of_a_full_backup(protected):
    _, etc, purges = protected
    full = backup_services.backup_start(kind="full", actor="t", inline=True)
    assert full.status == "succeeded", full.error
    (etc / "app.ini").unlink()
    call_command("recover", "config", "--inline", stdout=io.StringIO())
    assert (etc / "app.ini").read_text() == "[app]\nworkers = 4\n"
    run = _last_run("config")
    assert run.status == "succeeded"
    restored = Restore.objects.get()
    assert restored.backup_id == full.id and restored.parts == ["config"] and restored.status == "succeeded"
    assert purges


def test_a_damaged_copy_fails_the_recovery_and_leaves_the_files_as_they_were(protected):
    media, _, _ = protected
    backup = backup_services.backup_start(kind="media", actor="t", inline=True)
    artifact = Path(backup.locations.get().uri.removeprefix("file://"))
    artifact.write_bytes(artifact.read_bytes()[:-10] + b"0123456789")
    (media / "notes.txt").unlink()
    before = tree(media)
    with pytest.raises(CommandError):
        call_command("recover", "media", "--inline", stdout=io.StringIO())
    run = _last_run("media")
    restore_step = run.steps.get(name="restore")
    assert run.status == "failed" and "SHA-256 differs from the manifest" in restore_step.output
    assert tree(media) == before


# --- the backup-restore drill on the embedded default ----------------------------------------------


@pytest.fixture
def fresh(settings, tmp_path):
    """Nothing configured: the target is our own database and media."""
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_DIR = str(tmp_path / "media")
    settings.CONFIG_PATHS = []
    settings.TARGET_DATABASE_URL = settings.BACKUP_SCRATCH_DATABASE_URL = ""
    settings.R2_BUCKET = settings.R2_ARCHIVE_BUCKET = ""
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "upload.png").write_bytes(os.urandom(50_000))
    return tmp_path


def _backup_restore_drill(kinds=("database", "config", "media")) -> tuple[RecoveryRun, dict, str]:
    for kind in kinds:
        backup = backup_services.backup_start(kind=kind, actor="t", inline=True)
        assert backup.status == "succeeded", backup.error
    out = io.StringIO()
    code = 0
    try:
        call_command("recover", "test", "--scenario", "backup-restore", "--inline", stdout=out)
    except CommandError as exc:
        code = exc.returncode
    drill = RecoveryRun.objects.get(kind="drill")
    return drill, {s.name: s for s in drill.steps.all()}, f"exit {code}: {out.getvalue()}"


def _drill_and_check(database_where: str) -> RecoveryRun:
    drill, steps, said = _backup_restore_drill()
    assert said.startswith("exit 0"), said
    assert drill.status == "succeeded", [(s.name, s.status, s.output) for s in steps.values()]
    assert all(s.status == "succeeded" and s.verified_at for s in steps.values())
    assert database_where in steps["restore_database"].output and "rows match" in steps["restore_database"].output
    assert "1 media files restored into scratch, file list and every SHA-256 match" in steps["restore_media"].output
    assert "config files restored into scratch" in steps["restore_config"].output
    assert "no User Sessions backup: no session store is protected" in steps["restore_sessions"].output
    rto = {o.subject: o.achieved_s for o in drill.objectives.filter(kind="rto")}
    rpo = {o.subject: o.achieved_s for o in drill.objectives.filter(kind="rpo")}
    assert rto.keys() >= {"database", "media"} and all(v is not None for v in rto.values())
    assert rpo.keys() == {"database", "config", "media"} and all(v >= 0 for v in rpo.values())
    return drill


@pytest.mark.postgres
def test_the_drill_restores_our_own_database_and_media_into_scratch_with_nothing_configured(fresh, monkeypatch):
    created, scratch_database = [], restore.scratch_database

    @contextlib.contextmanager
    def recorded(*args, **kwargs):
        with scratch_database(*args, **kwargs) as url:
            created.append(url.rsplit("/", 1)[1])
            yield url

    monkeypatch.setattr(restore, "scratch_database", recorded)
    _drill_and_check("a scratch database")
    assert created
    with restore._admin_conn(targets.database_url()) as conn:
        assert not conn.execute("SELECT 1 FROM pg_database WHERE datname = ANY(%s)", [created]).fetchall()
    assert not list((fresh / "backups" / ".tmp").iterdir())


def _sqlite_target(settings, path: Path, rows: int) -> None:
    """A SQLite database of ``rows`` notes as the protected database."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id integer primary key, body text)")
        conn.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i}",) for i in range(rows)])
    settings.TARGET_DATABASE_URL = f"sqlite:///{path}"


def test_the_drill_on_a_sqlite_database_restores_into_a_scratch_sqlite_file(fresh, settings):
    _sqlite_target(settings, fresh / "own.sqlite3", 250)
    drill = _drill_and_check("a scratch SQLite file")
    assert "1 tables, 250 rows match" in drill.steps.get(name="restore_database").output


# --- User Sessions in the backup-restore drill --------------------------------------------------------


@pytest.fixture
def small_database(fresh, settings):
    """The drill restores a database too: a small SQLite one here, where the sessions are what is
    tested (restoring our own database is tested above, and takes seconds)."""
    _sqlite_target(settings, fresh / "own.sqlite3", 10)


def test_the_drill_loads_the_sessions_snapshot_into_a_scratch_redis_server(small_database, session_store):  # noqa: F811
    drill, steps, said = _backup_restore_drill(("database", "config", "media", "sessions"))
    step = steps["restore_sessions"]
    assert drill.status == "succeeded" and said.startswith("exit 0"), said
    assert step.status == "succeeded" and step.verified_at, step.output
    assert "loaded into a scratch redis-server" in step.output and "521 keys in 2 db(s) match" in step.output
    assert drill.objectives.get(kind="rpo", subject="sessions").achieved_s >= 0
    assert session_store.dbsize() == 501  # the protected store was only read


def test_a_sessions_snapshot_that_does_not_hold_its_manifests_keys_fails_the_drill(small_database, session_store):  # noqa: F811
    backup = backup_services.backup_start(kind="sessions", actor="t", inline=True)
    manifest = backup.manifest
    manifest["parts"][0]["keys"] = {"0": 999}
    type(backup).objects.filter(id=backup.id).update(manifest=manifest)
    drill, steps, said = _backup_restore_drill()
    assert drill.status == "failed" and said.startswith("exit 1"), said
    assert (
        steps["restore_sessions"].status == "failed" and "differ from the manifest" in steps["restore_sessions"].output
    )


def test_with_a_session_store_but_no_snapshot_yet_the_drill_is_inconclusive_and_says_so(small_database, session_store):  # noqa: F811
    drill, steps, said = _backup_restore_drill()
    assert drill.status == "inconclusive" and said.startswith("exit 3"), said
    assert steps["restore_sessions"].status == "skipped"
    hint = "no verified backup holding sessions yet: take one (manage.py backup sessions)"
    assert drill.missing == [
        {"what": "Load the newest User Sessions snapshot into a scratch redis-server", "hint": hint}
    ]
