"""The recovery page: plans, runs and drills with live progress and steps (refreshed from the event stream), reports."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from pitchey_incidents import charts, events
from pitchey_incidents.errors import DomainError
from pitchey_incidents.htmx import HtmxHttpRequest
from pitchey_incidents.roles import has_role

from . import selectors, services
from .models import RecoveryRun
from .reports import render_markdown


def index(request: HtmxHttpRequest) -> HttpResponse:
    runs = list(selectors.runs()[:30])
    running = [run for run in runs if run.finished_at is None]
    for run in running:
        run.live = selectors.run_progress(run)
    context = {
        "plans": selectors.plans(),
        "runs": runs,
        "running": running,
        "chart": drill_trend(),
        "can_run": has_role(request.user, "commander"),
        "last_event_id": events.latest_id(),
    }
    template = "recovery/index.html#runs" if request.htmx else "recovery/index.html"
    return render(request, template, context)


@require_POST
def start(request: HtmxHttpRequest) -> HttpResponse:
    if not has_role(request.user, "commander"):
        return HttpResponse("commander role required", status=403)
    try:
        if request.POST.get("scenario"):
            run = services.drill_start(scenario=request.POST["scenario"], actor=request.user)
        else:
            run = services.run_start(
                plan=request.POST.get("plan", ""), dry_run=bool(request.POST.get("dry_run")), actor=request.user
            )
    except DomainError as exc:
        messages.error(request, f"{exc.field}: {exc.message}")
        return redirect("recovery:index")
    return redirect(run.get_absolute_url())


def run_detail(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(RecoveryRun.objects.prefetch_related("steps", "objectives"), id=run_id)
    template = "recovery/run.html#steps" if request.htmx else "recovery/run.html"
    live = selectors.run_progress(run) if run.finished_at is None else None
    context = {"run": run, "report": run.report, "live": live, "last_event_id": events.latest_id()}
    return render(request, template, context)


def report(request: HtmxHttpRequest, run_id: int, fmt: str = "html") -> HttpResponse:
    run = get_object_or_404(RecoveryRun, id=run_id)
    data = run.report or {}
    if fmt == "json":
        return JsonResponse(data, json_dumps_params={"indent": 2})
    if fmt == "md":
        return HttpResponse(render_markdown(data) if data else "", content_type="text/markdown; charset=utf-8")
    return render(request, "recovery/report.html", {"run": run, "report": data, "raw": json.dumps(data)[:0]})


def incident_runs(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """The incident page's recovery section (loaded and refreshed by htmx): runs, steps, objectives."""
    runs = list(selectors.runs(kind="run", incident=public_id)[:10])
    live = any(r.finished_at is None for r in runs)
    return render(request, "recovery/incident_runs.html", {"runs": runs, "public_id": public_id, "live": live})


def trend(request: HtmxHttpRequest) -> HttpResponse:
    return HttpResponse(drill_trend().render(standalone=True), content_type="image/svg+xml")


def drill_trend() -> charts.Lines:
    """Achieved RTO/RPO of the measured drills, one line per subject, against each subject's target."""
    measured = [r for r in selectors.objective_results() if r["kind"] == "drill" and r["achieved_s"] is not None]
    runs = sorted({r["run"] for r in measured})
    by_subject: dict[str, dict[int, dict]] = {}
    for r in measured:
        by_subject.setdefault(f"{r['objective']}:{r['service'] or r['data_type']}", {})[r["run"]] = r
    series, references = [], []
    for i, (subject, rows) in enumerate(sorted(by_subject.items())):
        values = [rows[run]["achieved_s"] if run in rows else None for run in runs]
        series.append(charts.Series(subject, charts.palette_key(i), values))
        references.append((f"{subject} target", rows[max(rows)]["target_s"]))
    return charts.Lines(
        title="Drill trend: achieved RTO/RPO against targets",
        empty_text="No measured drills yet.",
        unit="seconds",
        labels=[f"#{run}" for run in runs],
        series=series,
        references=references,
    )
