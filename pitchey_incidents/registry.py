"""One registry shape for every plug-in family: a dict of small classes filled by one decorator.

A family declares its registry once, next to its base class, naming the modules that hold its
implementations (relative to the family's package)::

    REGISTRY: Registry[Channel] = Registry("channel", package=__package__, modules=("slack", "email"))

    @REGISTRY.register          # in slack.py
    class Slack(Channel):
        name = "slack"

The modules are imported on the first lookup, in the order given (which is also the order of
iteration), so no package imports its implementations for their side effects. ``REGISTRY["slack"]``
returns the one instance of ``Slack``, built on first use and kept: a lookup never rebuilds expensive
state such as an S3 client. Instances are dropped whenever a setting changes (``override_settings``,
pytest-django's ``settings``), so they read their configuration again. An unknown name is an
``UnknownName``: a ``DomainError`` naming the known ones (and a ``KeyError``, as a mapping's should be).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from django.core.signals import setting_changed

from .errors import DomainError

T = TypeVar("T")


class UnknownName(DomainError, KeyError):
    def __str__(self) -> str:  # KeyError's own would quote the message
        return self.message


class Registry(Mapping[str, T], Generic[T]):
    """Implementations of one family by name (``key``: the class attribute holding it)."""

    def __init__(
        self, noun: str, *, package: str, modules: tuple[str, ...], key: str = "name", field: str | None = None
    ):
        self.noun, self.key, self.field = noun, key, field or noun
        self.modules = tuple(f"{package}.{m}" for m in modules)
        self._classes: dict[str, type[T]] = {}
        self._instances: dict[str, T] = {}
        self._loaded = False
        self._lock = threading.RLock()
        _REGISTRIES.append(self)

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: file ``cls`` under its ``key`` attribute. (No lock: it runs while modules
        are imported, possibly during ``_load``.)"""
        name = getattr(cls, self.key)
        known = self._classes.get(name)
        if known is not None and known is not cls:
            raise ValueError(f"{self.noun} {name!r} is registered twice: {known.__qualname__}, {cls.__qualname__}")
        self._classes[name] = cls
        return cls

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            for module in self.modules:
                importlib.import_module(module)
            # A module imported on its own before the first lookup registered early: keep the declared order.
            rank = {m: i for i, m in enumerate(self.modules)}
            ordered = sorted(self._classes.items(), key=lambda item: rank.get(item[1].__module__, len(rank)))
            self._classes = dict(ordered)
            self._loaded = True

    def classes(self) -> dict[str, type[T]]:
        """The registered classes by name, without building any instance."""
        self._load()
        return dict(self._classes)

    def names(self) -> list[str]:
        """Registered names, in the declared order (for choices, enums and error messages)."""
        self._load()
        return list(self._classes)

    def __getitem__(self, name: str) -> T:
        instance = self._instances.get(name) if isinstance(name, str) else None
        if instance is not None:
            return instance
        self._load()
        cls = self._classes.get(name) if isinstance(name, str) else None
        if cls is None:
            raise UnknownName(
                f"unknown {self.noun} {name!r}; must be one of {', '.join(self.names())}", field=self.field
            )
        with self._lock:
            instance = self._instances.get(name)
            if instance is None:
                instance = self._instances[name] = cls()
        return instance

    def get(self, name: str, default: Any = None) -> T | Any:
        return self[name] if name in self else default

    def __contains__(self, name: object) -> bool:
        self._load()
        return isinstance(name, str) and name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"<Registry of {self.noun}: {', '.join(self.names())}>"

    def clear(self) -> None:
        """Forget the built instances (they are built again, from the current settings, when next asked for)."""
        with self._lock:
            self._instances = {}


_REGISTRIES: list[Registry] = []  # a Mapping is unhashable, so not a WeakSet; registries live as long as their module


def _forget_instances(**kwargs: Any) -> None:
    for registry in _REGISTRIES:
        registry.clear()


setting_changed.connect(_forget_instances, dispatch_uid="pitchey_incidents.registry")
