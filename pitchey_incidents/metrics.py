"""``/metrics``: the platform's own state in Prometheus' text format, for a Prometheus to watch us.

Each of our apps may have a ``metrics.py`` with ``collect()`` yielding
``(name, type, help, [(labels_dict, value), …])``; this module finds them all and hands them to
prometheus_client as a custom collector on a registry of our own, which renders the text format.
A scrape needs an API token (``Authorization: Bearer <token>`` or ``Token <token>``) or a session.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import time
from collections.abc import Iterator

from django.http import HttpResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from rest_framework.views import APIView

log = logging.getLogger(__name__)
OUR_APPS = ("pitchey_incidents", "incidents", "recovery", "backups")
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the classic text format, as generate_latest writes it

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


class AppsCollector(Collector):
    """Turns every app's ``collect()`` tuples into prometheus_client metric families, at scrape time."""

    def collect(self) -> Iterator[Metric]:
        errors = []
        for collect_fn in collectors():
            try:
                for family in collect_fn():
                    yield _family(*family)
            except Exception:  # one broken collector must not hide the others
                log.exception("metrics collector %s failed", collect_fn.__module__)
                errors.append(({"module": collect_fn.__module__}, 1))
        if errors:
            yield _family("pitchey_metrics_collector_errors", "gauge", "A collector that failed.", errors)


def _family(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> Metric:
    # A counter family is named without its ``_total``; its samples keep it (the exposition adds it back).
    family = Metric(name.removesuffix("_total") if kind == "counter" else name, help_text, kind)
    for labels, value in samples:
        family.add_sample(name, {k: str(v) for k, v in labels.items()}, float(value))
    return family


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(AppsCollector())


def gather() -> str:
    return generate_latest(REGISTRY).decode()


class MetricsView(APIView):
    """Prometheus text exposition of the platform's own metrics (viewer role)."""

    read_role = "viewer"
    schema = None

    def get(self, request):
        return HttpResponse(gather(), content_type=CONTENT_TYPE)
