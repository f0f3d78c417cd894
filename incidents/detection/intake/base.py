from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pitchey_incidents.errors import DomainError
from pitchey_incidents.registry import Registry

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt while an alert fires
_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass
class ParsedAlert:
    identity: str  # fingerprint or dedup key
    status: str  # firing | resolved
    summary: str
    group_key: str = ""  # the sender's own grouping (Alertmanager's groupKey), if any
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    severity: str | None = None  # an explicit P0..P3 from the sender, else from labels


class Intake(ABC):
    """Turns one sender's payload into alerts; raises ``DomainError`` naming the bad field."""

    kind: ClassVar[str]

    def verify(self, source, body: bytes, headers) -> str | None:
        """Extra authentication beyond the bearer secret; returns a reason to refuse, or None."""
        return None

    @abstractmethod
    def parse(self, payload: Any) -> list[ParsedAlert]: ...


REGISTRY: Registry[Intake] = Registry(
    "alert kind", key="kind", field="kind", package=__package__, modules=("alertmanager", "generic", "grafana")
)
register = REGISTRY.register


def get_intake(kind: str) -> Intake:
    return REGISTRY[kind]


# --- validation helpers ---------------------------------------------------------------------------


def need_dict(value: Any, field_name: str) -> dict:
    if not isinstance(value, dict):
        raise DomainError("must be an object", field=field_name)
    return value


def opt_str_map(value: Any, field_name: str) -> dict[str, str]:
    if value is None:
        return {}
    value = need_dict(value, field_name)
    out = {}
    for k, v in value.items():
        if not isinstance(v, (str, int, float)):
            raise DomainError(f"{k}: values must be text", field=field_name)
        out[str(k)[:200]] = str(v)[:2000]
    return out


def need_str(value: Any, field_name: str, *, max_length: int = 255, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise DomainError("is required text" if required else "must be text", field=field_name)
    if len(value) > max_length:
        raise DomainError(f"must be at most {max_length} characters", field=field_name)
    return value.strip()


def need_status(value: Any, field_name: str) -> str:
    if value not in ("firing", "resolved"):
        raise DomainError("must be firing or resolved", field=field_name)
    return value


def parse_time(value: Any, field_name: str) -> datetime | None:
    """RFC 3339 (Alertmanager sends nanoseconds); the zero time and empty mean "not set"."""
    if value in (None, "", ZERO_TIME) or (isinstance(value, str) and value.startswith("0001-01-01")):
        return None
    if not isinstance(value, str):
        raise DomainError("must be an RFC 3339 time", field=field_name)
    text = _FRACTION.sub(r"\1", value.strip())
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise DomainError("must be an RFC 3339 time", field=field_name) from None
    if parsed.tzinfo is None:
        raise DomainError("must include a time zone", field=field_name)
    return parsed
