from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .. import pipeline
from .base import Storage, StorageError


class LocalStorage(Storage):
    """``BACKUP_DIR``: backups are written here first, so ``put`` of a file already in place is free."""

    tier = "local"

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, uri: str) -> Path:
        if not uri.startswith("file://"):
            raise StorageError(f"not a local URI: {uri}")
        return Path(uri[len("file://") :])

    def uri(self, key: str) -> str:
        return "file://" + str((self.root / key).resolve())

    def put(self, path, key, reporter=None, *, retain_until=None):
        dest = self.root / key
        if dest.resolve() != Path(path).resolve():
            pipeline.copy_atomic(Path(path), dest, tmp_dir=self.root / ".tmp")
        return self.uri(key)

    def open(self, uri):
        try:
            return open(self.path(uri), "rb")
        except FileNotFoundError:
            raise StorageError(f"missing: {uri}") from None

    def delete(self, uri):
        self.path(uri).unlink(missing_ok=True)

    def manifests(self) -> Iterator[str]:
        for path in sorted(self.root.glob("*/*.manifest.json")):
            yield "file://" + str(path.resolve())
