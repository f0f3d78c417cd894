from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from pitchey_incidents.errors import DomainError
from pitchey_incidents.outcome import Outcome
from pitchey_incidents.registry import Registry


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "str"  # str | int | bool | choice | list
    required: bool = False
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    omit_unset: bool = False  # left out of the cleaned params when not given (a drills-only switch)

    def clean(self, raw: Any) -> Any:
        field_name = f"params.{self.name}"
        if raw is None or raw == "":
            if self.required:
                raise DomainError(f"{self.name} is required", field=field_name)
            return self.default
        if self.type == "int":
            if isinstance(raw, bool):
                raise DomainError(f"{self.name} must be a whole number", field=field_name)
            try:
                value = int(raw)
            except (TypeError, ValueError):
                raise DomainError(f"{self.name} must be a whole number", field=field_name) from None
            if self.minimum is not None and value < self.minimum:
                raise DomainError(f"{self.name} must be at least {self.minimum}", field=field_name)
            if self.maximum is not None and value > self.maximum:
                raise DomainError(f"{self.name} must be at most {self.maximum}", field=field_name)
            return value
        if self.type == "bool":
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in {"1", "true", "yes", "on"}:
                return True
            if str(raw).lower() in {"0", "false", "no", "off"}:
                return False
            raise DomainError(f"{self.name} must be true or false", field=field_name)
        if self.type == "list":
            items = raw if isinstance(raw, list) else str(raw).split(",")
            if not all(isinstance(i, str) for i in items):
                raise DomainError(f"{self.name} must be a list of names", field=field_name)
            return [i.strip() for i in items if i.strip()]
        if not isinstance(raw, (str, int, float)):
            raise DomainError(f"{self.name} must be text", field=field_name)
        value = str(raw).strip()
        if self.type == "choice" and value not in self.choices:
            raise DomainError(f"{self.name} must be one of {', '.join(self.choices)}", field=field_name)
        if len(value) > 500:
            raise DomainError(f"{self.name} is too long", field=field_name)
        return value

    def describe(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "help": self.help,
            "choices": list(self.choices),
        }


class Action(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    destructive: ClassVar[bool] = True

    def clean(self, raw: dict | None) -> dict:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise DomainError("params must be an object", field="params")
        known = {p.name for p in self.params}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise DomainError(f"unknown parameter {unknown[0]!r} for {self.name}", field="params")
        given = [p for p in self.params if not (p.omit_unset and raw.get(p.name) in (None, ""))]
        return {p.name: p.clean(raw.get(p.name)) for p in given}

    def available(self) -> tuple[bool, str]:
        """Whether this action can run here (its target is configured), and why not."""
        return True, ""

    @abstractmethod
    def run(self, params: dict, *, dry_run: bool = False) -> Outcome: ...

    def undo(self, params: dict, outcome: Outcome) -> dict:
        """The action (and its parameters) that reverses a run of this one: ``{action, params,
        label}``, or ``{}`` when nothing can be undone."""
        return {}

    def describe(self) -> dict:
        ok, why = self.available()
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "destructive": self.destructive,
            "available": ok,
            "unavailable_reason": why,
            "params": [p.describe() for p in self.params],
        }


REGISTRY: Registry[Action] = Registry("action", package=__package__, modules=("builtin", "emergency"))
register = REGISTRY.register


def get_action(name: str) -> Action:
    return REGISTRY[name]
