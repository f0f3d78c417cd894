"""``/metrics``: the platform's own state in Prometheus' text format, for a Prometheus to watch us.

Each of our apps may have a ``metrics.py`` with ``collect()`` yielding
``(name, type, help, [(labels_dict, value), …])``; this module finds and renders them all.
A scrape needs an API token (``Authorization: Bearer <token>`` or ``Token <token>``) or a session.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import time
from collections.abc import Iterable, Iterator

from django.http import HttpResponse
from rest_framework.views import APIView

log = logging.getLogger(__name__)
OUR_APPS = ("pitchey_incidents", "incidents", "recovery", "backups")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Family = tuple[str, str, str, list[tuple[dict[str, str], float]]]


def collect() -> Iterator[Family]:
    yield ("pitchey_up", "gauge", "1 while the platform answers scrapes.", [({}, 1)])
    yield ("pitchey_scrape_timestamp_seconds", "gauge", "When this scrape was rendered.", [({}, time.time())])


def collectors() -> list:
    found = []
    for app in OUR_APPS:
        name = f"{app}.metrics"
        if importlib.util.find_spec(app) is None or importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        if callable(getattr(module, "collect", None)):
            found.append(module.collect)
    return found


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def render(families: Iterable[Family]) -> str:
    lines = []
    for name, kind, help_text, samples in families:
        lines.append(f"# HELP {name} {help_text.replace(chr(10), ' ')}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{name}{{{label_text}}} {_number(value)}" if label_text else f"{name} {_number(value)}")
    return "\n".join(lines) + "\n"


def gather() -> str:
    families: list[Family] = []
    for collect_fn in collectors():
        try:
            families.extend(collect_fn())
        except Exception:  # one broken collector must not hide the others
            log.exception("metrics collector %s failed", collect_fn.__module__)
            families.append(
                (
                    "pitchey_metrics_collector_errors",
                    "gauge",
                    "A collector that failed.",
                    [({"module": collect_fn.__module__}, 1)],
                )
            )
    return render(families)


class MetricsView(APIView):
    """Prometheus text exposition of the platform's own metrics (viewer role)."""

    read_role = "viewer"
    schema = None

    def get(self, request):
        return HttpResponse(gather(), content_type=CONTENT_TYPE)
