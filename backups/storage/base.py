"""A storage tier holds copies of backup files: put, open, delete, list manifests."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pitchey_incidents.registry import Registry

from ..pipeline import Reporter


class StorageError(Exception):
    pass


class Locked(StorageError):
    """The object is under S3 Object Lock (a retention date not reached, or a legal hold)."""


class Storage(ABC):
    tier = ""

    @classmethod
    def configured(cls) -> bool:
        """Whether this tier's settings are present here (a tier that is not is left out)."""
        return True

    @abstractmethod
    def put(self, path: Path, key: str, reporter: Reporter | None = None, *, retain_until: str | None = None) -> str:
        """Store the local file ``path`` as ``key`` (``kind/filename``); return its URI. Where the tier
        locks its copies, the object is locked until ``retain_until`` (ISO 8601; None: indefinitely)."""
        ...

    def lock(self, uri: str) -> dict | None:
        """The object's lock, ``{mode, retain_until, legal_hold, locked}``, or None where there is none."""
        return None

    @abstractmethod
    def open(self, uri: str) -> BinaryIO: ...

    @abstractmethod
    def delete(self, uri: str) -> None: ...

    @abstractmethod
    def manifests(self) -> Iterator[str]:
        """URIs of every manifest in this tier (to rebuild the catalog from storage)."""
        ...

    @staticmethod
    def sibling(uri: str, name: str) -> str:
        return uri.rsplit("/", 1)[0] + "/" + name


REGISTRY: Registry[Storage] = Registry(
    "storage tier", key="tier", field="tier", package=__package__, modules=("tiers",)
)
register = REGISTRY.register
