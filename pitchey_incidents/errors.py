"""Domain errors raised by services; the API maps them to status codes, the CLI to one line."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses. ``field`` names the input at fault when there is one."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidTransition(DomainError):
    """The state machine forbids this change from the current status (HTTP 409)."""

    status_code = 409

    def __init__(self, message: str, *, current_status: str):
        super().__init__(message)
        self.current_status = current_status


class Conflict(DomainError):
    status_code = 409
