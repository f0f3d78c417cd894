"""Encryption at rest with age: every file of a tier with recipients is stored encrypted, restores
with the stock ``age``, ``zstd`` and ``pg_restore`` alone, and reads back with the right key only."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backups import manifest as mf
from backups import restore, services
from backups.models import Backup, Status
from backups.storage import crypto
from backups.verify import verify_path
from pitchey_incidents.testing import ROOT

from .conftest import fingerprint

pytestmark = pytest.mark.django_db(transaction=True)


class Key:
    """An age key made by the stock ``age-keygen``: its identity file and its public recipient."""

    def __init__(self, folder: Path, name: str):
        self.path = folder / f"{name}.txt"
        subprocess.run(["age-keygen", "-o", str(self.path)], check=True, capture_output=True)
        self.recipient = subprocess.run(
            ["age-keygen", "-y", str(self.path)], check=True, capture_output=True, text=True
        ).stdout.strip()


@pytest.fixture
def keys(tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir()
    return {name: Key(folder, name) for name in ("old", "new", "other")}


def _local_file(backup) -> Path:
    return Path(backup.locations.get(tier="local").uri.removeprefix("file://"))


def _sh(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)


@pytest.mark.postgres
def test_encrypted_backup_restores_with_stock_age_zstd_and_pg_restore(pg_target, keys, settings):
    settings.BACKUP_AGE_RECIPIENTS = [keys["new"].recipient]
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error

    stored = _local_file(backup)
    assert stored.name.endswith(".dump.zst.age") and stored.read_bytes().startswith(b"age-encryption.org/v1\n")
    folder = stored.parent
    assert not [p for p in folder.iterdir() if p.name.endswith(".zst")]  # nothing left unencrypted
    manifest_text = (folder / mf.beside(stored).name).read_text()
    manifest = json.loads(manifest_text)
    part = next(p for p in manifest["parts"] if p["part"] == "database")
    assert part["file"] == stored.name and part["size"] == stored.stat().st_size
    assert part["compressed"]["file"] == stored.name.removesuffix(".age")  # what age -d gives back
    assert part["encryption"] == {
        "scheme": "age",
        "recipients": [{"recipient": keys["new"].recipient, "fingerprint": crypto.fingerprint(keys["new"].recipient)}],
    }
    assert "AGE-SECRET-KEY" not in manifest_text and "AGE-SECRET-KEY" not in json.dumps(backup.manifest)
    assert manifest["restore"] == f"age -d -i key.txt {stored.name} | zstd -dc | pg_restore --no-owner -d NEWDB"

    # The README's one-liner with the stock tools, nothing of ours.
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        done = _sh(f"age -d -i '{keys['new'].path}' '{stored}' | zstd -dc | pg_restore --no-owner -d '{url}'")
        assert done.returncode == 0, done.stderr
        assert fingerprint(url) == fingerprint(pg_target)
    # The globals file too.
    globals_file = next(folder.glob("*.globals.sql.zst.age"))
    assert "CREATE ROLE" in _sh(f"age -d -i '{keys['new'].path}' '{globals_file}' | zstd -dc").stdout

    _restore_and_verify_with_the_key(backup, stored, keys["new"], pg_target, settings)


def _restore_and_verify_with_the_key(backup, stored: Path, key: Key, pg_target: str, settings) -> None:
    """Our restore and every depth of verification decrypt on the way, with the identity file."""
    settings.BACKUP_AGE_IDENTITY_FILE = str(key.path)
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        result = restore.restore_database(backup=backup, database_url=url)
        assert result["tier"] == "local" and fingerprint(url) == fingerprint(pg_target)
    by_path = verify_path(stored)  # `backup verify PATH`: the file and the manifest beside it, no catalog
    assert by_path["ok"] and by_path["encryption"]["key"] == key.recipient, by_path["detail"]
    verified = services.backup_verify(backup_id=backup.id, restore_test=True)
    assert verified.verification["ok"], verified.verification["detail"]
    local = verified.verification["tiers"]["local"]
    assert {c["check"] for c in local["checks"]} == {"checksum", "decompress", "list", "restore"}
    assert local["encryption"]["key_available"] and local["encryption"]["key"] == key.recipient


@pytest.mark.postgres
def test_a_wrong_key_is_a_clear_error_before_anything_is_written(pg_target, keys, settings):
    settings.BACKUP_AGE_RECIPIENTS = [keys["old"].recipient]
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    settings.BACKUP_AGE_IDENTITY_FILE = str(keys["other"].path)
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        with pytest.raises(restore.RestoreError) as caught:
            restore.restore_database(backup=backup, database_url=url)
        message = str(caught.value)
        assert f"needs the age key of {keys['old'].recipient}" in message
        assert f"holds {keys['other'].recipient}" in message
        with psycopg.connect(url) as conn:  # not a table, not a schema object was created
            assert (
                conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").fetchone()[0]
                == 0
            )
    assert not list((Path(settings.BACKUP_DIR) / ".tmp").glob("restore-*"))

    # The stock tool says the same in its own words.
    done = _sh(f"age -d -i '{keys['other'].path}' '{_local_file(backup)}' > /dev/null")
    assert done.returncode != 0 and "no identity matched" in done.stderr


def test_key_rotation_new_backups_use_the_new_key_old_ones_need_the_old(sqlite_target, keys, settings, capsys):
    settings.BACKUP_AGE_RECIPIENTS = [keys["old"].recipient]
    before = services.backup_start(kind="database", actor="t", inline=True)
    settings.BACKUP_AGE_RECIPIENTS = [keys["new"].recipient]  # rotated
    after = services.backup_start(kind="database", actor="t", inline=True)
    assert before.status == after.status == Status.SUCCEEDED
    assert _recipients(before) == [keys["old"].recipient] and _recipients(after) == [keys["new"].recipient]

    # Only the new key here: the new backup reads in full; the old one is checked by its SHA-256,
    # and verify says which key it needs.
    settings.BACKUP_AGE_IDENTITY_FILE = str(keys["new"].path)
    new = services.backup_verify(backup_id=after.id).verification["tiers"]["local"]
    assert new["ok"] and {c["check"] for c in new["checks"]} == {"checksum", "decompress", "list"}
    old = services.backup_verify(backup_id=before.id).verification["tiers"]["local"]
    assert old["ok"] and {c["check"] for c in old["checks"]} == {"checksum"}
    assert old["encryption"]["key_available"] is False
    assert f"needs the age key of {keys['old'].recipient}" in old["detail"]
    call_command("backup", "verify", str(before.id))
    out = capsys.readouterr().out
    assert f"🔑 local: encrypted with age; needs the age key of {keys['old'].recipient}" in out
    assert "no such key here" in out
    with pytest.raises(CommandError, match="needs the age key of"):
        call_command("backup", "verify", str(before.id), "--restore-test")

    # The old key, given for this command: the old backup reads in full and restores.
    call_command("backup", "verify", str(before.id), "--identity", str(keys["old"].path))
    assert f"key here: {keys['old'].recipient}" in capsys.readouterr().out
    dest = Path(settings.BACKUP_DIR).parent / "restored.sqlite3"
    call_command(
        "backup", "restore", str(before.id), "--database-url", f"sqlite:///{dest}", "--identity", str(keys["old"].path)
    )
    assert "400 rows" in capsys.readouterr().out

    # An identity file with both keys (as during a rotation) reads both.
    both = keys["old"].path.with_name("both.txt")
    both.write_text(keys["old"].path.read_text() + keys["new"].path.read_text())
    settings.BACKUP_AGE_IDENTITY_FILE = str(both)
    for backup in (before, after):
        assert services.backup_verify(backup_id=backup.id, restore_test=True).verification["ok"]


def _recipients(backup) -> list[str]:
    view = mf.for_tier(backup.manifest, "local")
    return [r["recipient"] for r in view["parts"][0]["encryption"]["recipients"]]


def test_each_tier_its_own_recipients_and_a_restore_from_the_cloud_copy(s3, sqlite_target, keys, settings):
    settings.BACKUP_AGE_RECIPIENTS = [keys["new"].recipient]  # cloud: the global list
    settings.BACKUP_AGE_RECIPIENTS_BY_TIER = {"local": [], "archive": [keys["old"].recipient]}
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    locations = {loc.tier: loc for loc in backup.locations.all()}
    assert locations["local"].uri.endswith(".sqlite3.zst")  # stored as is on this disk
    for tier, key in (("cloud", "new"), ("archive", "old")):
        assert locations[tier].uri.endswith(".sqlite3.zst.age") and locations[tier].verified_at
        bucket, _, name = locations[tier].uri.removeprefix("s3://").partition("/")
        body = s3.get_object(Bucket=bucket, Key=name)["Body"].read()
        assert body.startswith(b"age-encryption.org/v1\n")
        stored_manifest = json.loads(
            s3.get_object(Bucket=bucket, Key=name.split(".")[0] + ".manifest.json")["Body"].read()
        )
        assert stored_manifest["tier"] == tier and stored_manifest["artifact"] == name.rsplit("/", 1)[1]
        assert stored_manifest["parts"][0]["encryption"]["recipients"][0]["recipient"] == keys[key].recipient
    cloud_sha = mf.for_tier(backup.manifest, "cloud")["sha256"]
    assert cloud_sha != mf.for_tier(backup.manifest, "archive")["sha256"] != backup.sha256  # one age file each

    # The local copy is lost; only the archive's key is here: the cloud copy is passed over, saying why.
    _local_file(backup).unlink()
    settings.BACKUP_AGE_IDENTITY_FILE = str(keys["old"].path)
    dest = Path(settings.BACKUP_DIR).parent / "restored.sqlite3"
    result = restore.restore_database(backup=backup, database_url=f"sqlite:///{dest}")
    assert result["tier"] == "archive" and result["tables"] == {"notes": 400}

    # The catalog rebuilt from the cloud's manifest knows every tier's file again.
    Backup.objects.all().delete()
    assert services.backups_import(actor="t")["backups"] == 1
    rebuilt = Backup.objects.get()
    names = {loc.tier: Path(loc.uri).name for loc in rebuilt.locations.all()}
    assert rebuilt.sha256 == backup.sha256 and names == {tier: Path(loc.uri).name for tier, loc in locations.items()}


def test_a_damaged_encrypted_copy_is_caught_and_passed_over(s3, sqlite_target, keys, settings):
    settings.BACKUP_AGE_RECIPIENTS = [keys["new"].recipient]
    settings.BACKUP_AGE_IDENTITY_FILE = str(keys["new"].path)
    backup = services.backup_start(kind="database", actor="t", inline=True)
    local = _local_file(backup)
    data = bytearray(local.read_bytes())
    data[len(data) // 2] ^= 0x01
    local.write_bytes(bytes(data))
    checked = services.backup_verify(backup_id=backup.id).verification["tiers"]
    assert not checked["local"]["ok"] and "SHA-256" in checked["local"]["detail"] and checked["cloud"]["ok"]
    # Decryption alone catches it too (each 64 KiB chunk is authenticated), and truncation.
    part = mf.for_tier(backup.manifest, "local")["parts"][0]
    for damaged in (bytes(data), local.read_bytes()[: len(data) // 2]):
        with pytest.raises(crypto.DecryptFailed):
            with crypto.plain(_Bytes(damaged), part) as plain:
                while plain.read(1 << 16):
                    pass
    dest = Path(settings.BACKUP_DIR).parent / "restored.sqlite3"
    result = restore.restore_database(backup=backup, database_url=f"sqlite:///{dest}")
    assert result["tier"] == "cloud" and result["tables"] == {"notes": 400}


class _Bytes:
    def __init__(self, data: bytes):
        self.fh = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self.fh.read(n)


def test_encryption_streams_in_bounded_memory(tmp_path, keys):
    """A 128 MiB file through encrypt and decrypt, in a process of its own: its peak memory stays
    under half the file's size, a bound that holding the file in memory would break (the stock age reads
    what we wrote)."""
    src = tmp_path / "big.bin"
    with open(src, "wb") as fh:
        fh.truncate(128 << 20)  # sparse: the disk is not the point
    script = f"""
import hashlib, resource, sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from backups.storage import crypto
from backups import pipeline
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
stored = crypto.encrypt_file(Path({str(src)!r}), Path({str(tmp_path / "big.age")!r}), [{keys["new"].recipient!r}],
                             tmp_dir=Path({str(tmp_path / "tmp")!r}))
key = crypto.identities({str(keys["new"].path)!r})
sha, size = hashlib.sha256(), 0
with open({str(tmp_path / "big.age")!r}, "rb") as raw, crypto.plain(raw, {{"encryption": {{"recipients": [
        {{"recipient": {keys["new"].recipient!r}, "fingerprint": ""}}]}}}}, {str(keys["new"].path)!r}) as plain:
    while chunk := plain.read(pipeline.CHUNK):
        sha.update(chunk); size += len(chunk)
print(stored["size"], size, sha.hexdigest(), base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    stored_size, size, sha, base_mb, peak_mb = done.stdout.split()
    assert int(size) == 128 << 20 and int(stored_size) > 128 << 20
    assert int(peak_mb) - int(base_mb) < 64, f"peak RSS {peak_mb} MB, {base_mb} MB before"
    stock = _sh(f"age -d -i '{keys['new'].path}' '{tmp_path / 'big.age'}' | sha256sum")
    assert stock.stdout.split()[0] == sha


def test_recipients_that_are_not_age_keys_fail_the_backup(sqlite_target, settings):
    settings.BACKUP_AGE_RECIPIENTS = ["AGE-SECRET-KEY-1NOTAPUBLICKEY"]
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == Status.FAILED and "not an age recipient" in backup.error
    assert "NOTAPUBLICKEY" not in backup.error and "AGE-SECRET" not in backup.error  # a secret is not echoed
    assert not [p for p in Path(settings.BACKUP_DIR).rglob("*") if p.is_file()]


def _media_tree(media: Path) -> dict[str, bytes]:
    return {p.relative_to(media).as_posix(): p.read_bytes() for p in sorted(media.rglob("*")) if p.is_file()}


def test_an_encrypted_media_backup_restores_with_its_key_and_is_refused_without(backup_paths, keys, settings):
    media = backup_paths / "media"
    (media / "posters").mkdir()
    (media / "posters" / "a.jpg").write_bytes(os.urandom(50_000))
    (media / "notes.txt").write_text("hello " * 100)
    original = _media_tree(media)
    settings.BACKUP_AGE_RECIPIENTS = [keys["old"].recipient]
    backup = services.backup_start(kind="media", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    (media / "notes.txt").write_text("changed")
    (media / "posters" / "a.jpg").unlink()
    damaged = _media_tree(media)

    # Without a key that opens it: refused before anything is touched, naming the key it needs.
    settings.BACKUP_AGE_IDENTITY_FILE = str(keys["other"].path)
    with pytest.raises(CommandError, match=f"needs the age key of {keys['old'].recipient}"):
        call_command("backup", "restore", str(backup.id), stdout=StringIO())
    assert _media_tree(media) == damaged
    assert not [p for p in media.parent.iterdir() if ".restore-" in p.name]

    # With it (--identity): decrypted as it is read, every file back byte for byte.
    call_command("backup", "restore", str(backup.id), "--identity", str(keys["old"].path), stdout=StringIO())
    assert _media_tree(media) == original
