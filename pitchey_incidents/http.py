"""Outgoing HTTP for every integration: one client, one error type, one retry rule.

``TransportError.permanent`` says whether retrying can help (400, 401, 403, 404, 410 cannot; 420,
429 and 5xx can, after ``retry_after`` seconds when the server said so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings

if TYPE_CHECKING:
    import requests

PERMANENT_STATUSES = {400, 401, 403, 404, 405, 410, 413, 422}


class TransportError(Exception):
    def __init__(
        self, message: str, *, permanent: bool = False, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after


@dataclass
class Response:
    status: int
    text: str
    json: Any
    headers: dict[str, str]


def _retry_after(resp: requests.Response) -> float | None:
    raw = resp.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def request(
    method: str,
    url: str,
    *,
    json: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float | None = None,
    ok: tuple[int, ...] = (200, 201, 202, 204),
) -> Response:
    """Send one request; return the response or raise ``TransportError`` saying whether to retry."""
    import requests  # here, not at the top: the first request loads it (about 100 modules), not every start

    try:
        resp = requests.request(
            method, url, json=json, data=data, headers=headers, timeout=timeout or settings.HTTP_TIMEOUT_S
        )
    except requests.RequestException as exc:
        raise TransportError(f"{method} {loggable_url(url)}: {exc.__class__.__name__}") from None
    if resp.status_code not in ok:
        body = resp.text[:200].replace("\n", " ")
        permanent = resp.status_code in PERMANENT_STATUSES or (
            400 <= resp.status_code < 500 and resp.status_code not in (408, 420, 425, 429)
        )
        raise TransportError(
            f"{method} {loggable_url(url)}: HTTP {resp.status_code} {body}",
            permanent=permanent,
            status=resp.status_code,
            retry_after=_retry_after(resp),
        )
    try:
        payload = resp.json()
    except ValueError:
        payload = None
    return Response(resp.status_code, resp.text, payload, dict(resp.headers))


def loggable_url(url: str) -> str:
    """A URL fit for logs and timelines: no path secrets (Slack webhooks carry theirs in the path)."""

    parts = urlsplit(url)
    return (
        f"{parts.scheme}://{parts.netloc}/…"
        if parts.path.count("/") > 2
        else f"{parts.scheme}://{parts.netloc}{parts.path}"
    )
