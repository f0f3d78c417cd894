"""Liveness and readiness: no auth, no secrets."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from . import jobs
from .workers import queue_status


@never_cache
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return None
    except Exception as exc:
        return exc.__class__.__name__


def _check_broker() -> str | None:
    app = jobs.celery_app()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return None
    except Exception as exc:
        return exc.__class__.__name__


def _check_workers() -> tuple[dict, bool]:
    """Per queue: when a worker was last seen on it. Not ready while ``critical`` has had none for more
    than ``WORKER_MISSING_S`` (a queue without a worker is reported, not fatal, for the others)."""
    try:
        statuses = queue_status()
    except Exception as exc:  # the database check says why
        return {"error": exc.__class__.__name__}, False
    ok = not any(s.missing for s in statuses if s.queue == "critical")
    return {s.queue: s.as_dict() for s in statuses}, ok


@never_cache
@login_not_required
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "broker": _check_broker()}
    workers, workers_ok = _check_workers()
    ok = all(v is None for v in checks.values()) and workers_ok
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": {k: ("ok" if v is None else f"failed: {v}") for k, v in checks.items()} | {"workers": workers},
        "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
    }
    return JsonResponse(body, status=200 if ok else 503)
