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


# Of a part stored encrypted in a tier, what describes the compressed stream inside the age file.
COMPRESSED_FIELDS = ("file", "size", "sha256", "toc_size", "frames", "blocks")


def for_tier(manifest: dict, tier: str) -> dict:
    """The manifest as one tier stores it: it names that tier and its expiry, and every part
    describes the file stored there: where the tier encrypts (``encrypted[tier]``), the age file,
    its size, SHA-256 and recipients (``encryption``), with the compressed stream inside it under
    ``compressed``. ``master`` undoes it, so any tier's manifest rebuilds the others'."""
    base = master(manifest)
    view = base | {
        "tier": tier,
        "expires_at": base.get("retention", {}).get(tier, {}).get("expires_at"),
        "parts": [_part_for(part, tier) for part in base.get("parts", [])],
    }
    _summarize(view)
    view["restore"] = restore_hint(view)
    return view


def master(manifest: dict) -> dict:
    """The manifest with every part as compressed (before any tier's encryption), without a tier."""
    parts = [_unencrypted(part) for part in manifest.get("parts", [])]
    base = {k: v for k, v in manifest.items() if k not in ("tier", "expires_at")} | {"parts": parts}
    if any("compressed" in part for part in manifest.get("parts", [])):
        _summarize(base)
        base["restore"] = restore_hint(base)
    return base


def part_for_tier(part: dict, tier: str) -> dict:
    """One part as ``tier`` stores it (its age file, size, SHA-256 and recipients where it encrypts)."""
    return _part_for(master({"parts": [part]})["parts"][0], tier)


def _part_for(part: dict, tier: str) -> dict:
    stored = part.get("encrypted", {}).get(tier)
    if part.get("skipped") or not stored:
        return part
    compressed = {k: part[k] for k in COMPRESSED_FIELDS if k in part}
    rest = {k: v for k, v in part.items() if k not in COMPRESSED_FIELDS}
    return rest | {
        "file": stored["file"],
        "size": stored["size"],
        "sha256": stored["sha256"],
        "encryption": stored["encryption"],
        "compressed": compressed,
    }


def _unencrypted(part: dict) -> dict:
    if "compressed" not in part:
        return part
    return {k: v for k, v in part.items() if k not in ("encryption", "compressed")} | part["compressed"]


def _summarize(manifest: dict) -> None:
    stored = stored_parts(manifest)
    if stored:
        manifest["artifact"], manifest["sha256"] = stored[0]["file"], stored[0]["sha256"]
        manifest["size"] = sum(p["size"] for p in stored)


def encrypted(manifest: dict) -> bool:
    return any(p.get("encryption") for p in stored_parts(manifest))


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
        first = stored_parts(manifest)[0] if stored_parts(manifest) else {}
        if first.get("encryption"):
            return f"age -d -i key.txt {first['file']} | zstd -dc | tar -x   # or gzip -dc ({manifest['kind']})"
        return f"zstd -dc FILE | tar -x   # or gzip -dc for .gz ({manifest['kind']})"
    decompress = "zstd -dc" if part["compression"] == "zstd" else "gzip -dc"
    # Encrypted: age decrypts to standard output and the decompressor reads it from there.
    if part.get("encryption"):
        source = f"age -d -i key.txt {part['file']} | {decompress}"
    else:
        source = f"{decompress} {part['file']}"
    if part["format"] == "sqlite":
        return f"{source} > restored.sqlite3"
    return f"{source} | pg_restore --no-owner -d NEWDB"
