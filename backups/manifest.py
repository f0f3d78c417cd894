"""The JSON manifest written beside every backup's files: enough to verify and restore the backup,
and to rebuild the catalog, with nothing but the storage."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

MANIFEST_VERSION = 1
SUFFIX = ".manifest.json"


def stem(kind: str, created_at: datetime, backup_id: int) -> str:
    """Every file of a backup starts with this (no dots, so the manifest is found from any file)."""
    return f"{kind}-{created_at:%Y%m%dT%H%M%SZ}-{backup_id}"


def name_for(stem_: str) -> str:
    return stem_ + SUFFIX


def beside(path: Path) -> Path:
    """The manifest of the backup that ``path`` (any of its files, or the manifest) belongs to."""
    if path.name.endswith(SUFFIX):
        return path
    return path.with_name(path.name.split(".", 1)[0] + SUFFIX)


def expiry(finished_at: datetime, days: int | None) -> str | None:
    return (finished_at + timedelta(days=days)).isoformat() if days is not None else None


def for_tier(manifest: dict, tier: str) -> dict:
    """The copy of the manifest stored in one tier names that tier and its expiry."""
    return manifest | {"tier": tier, "expires_at": manifest.get("retention", {}).get(tier, {}).get("expires_at")}


def dumps(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n").encode()


def loads(data: bytes) -> dict:
    manifest = json.loads(data)
    if not isinstance(manifest, dict) or "parts" not in manifest:
        raise ValueError("not a backup manifest")
    return manifest


def stored_parts(manifest: dict) -> list[dict]:
    return [p for p in manifest.get("parts", []) if not p.get("skipped")]


def files(manifest: dict) -> list[str]:
    return [p["file"] for p in stored_parts(manifest)]


def restore_hint(manifest: dict) -> str:
    parts = stored_parts(manifest)
    decompress = "zstd -dc" if manifest.get("compression", "zstd") == "zstd" else "gzip -dc"
    if manifest["kind"] == "wal":
        return f"{decompress} {parts[0]['file']} > {parts[0]['segment']}   # into the restore's WAL folder"
    if manifest["kind"] == "basebackup":
        base, wal = parts[0]["file"], parts[1]["file"]
        return f"{decompress} {base} | tar -x -C DATADIR && {decompress} {wal} | tar -x -C DATADIR/pg_wal"
    part = next((p for p in parts if p["part"] == "database"), None)
    if not part:
        return f"zstd -dc FILE | tar -x   # or gzip -dc for .gz ({manifest['kind']})"
    decompress = "zstd -dc" if part["compression"] == "zstd" else "gzip -dc"
    if part["format"] == "sqlite":
        return f"{decompress} {part['file']} > restored.sqlite3"
    return f"{decompress} {part['file']} | pg_restore --no-owner -d NEWDB"
