"""SIGKILL the worker in the middle of a run: a new worker resumes at the interrupted step, and no
finished step runs twice."""

from __future__ import annotations

import threading

import pytest

from pitchey_incidents.testing import wait_for
from recovery import services
from recovery.models import PlanStep, RecoveryPlan, RecoveryRun, RunStep

from .fakes import FakeServer


def kill_test_plan(server_url: str) -> RecoveryPlan:
    """mark1 (not idempotent), wait (idempotent: an HTTP check of ``server_url``), mark2."""
    plan = RecoveryPlan.objects.create(slug="kill-test", name="kill test")
    for i, (name, action, params) in enumerate(
        [
            ("mark1", "command.run", {"command": "mark1"}),  # not idempotent
            ("wait", "http.verify", {"url": server_url + "/health", "budget_ms": 60000}),  # idempotent
            ("mark2", "command.run", {"command": "mark2"}),
        ],
        start=1,
    ):
        PlanStep.objects.create(plan=plan, position=i, name=name, title=name, action=action, params=params)
    return plan


def kill_at_the_slow_step(worker, server: FakeServer, release: threading.Event, commands: str) -> RecoveryRun:
    """Start the run on a first worker and SIGKILL it while it waits at the slow step."""
    first = worker(name="w1", ALLOWED_COMMANDS=commands)
    run = services.run_start(plan="kill-test", actor="tester")
    wait_for(
        lambda: RunStep.objects.filter(run=run, name="wait", status="running").exists() and server.requests,
        timeout=60,
        message="the worker to reach the slow step",
    )
    first.kill()
    release.set()
    return run


@pytest.mark.django_db(transaction=True)
def test_killed_worker_run_resumes_at_the_interrupted_step(worker, tmp_path, settings):
    marks = tmp_path / "marks.txt"
    commands = f"mark1=sh -c 'echo mark1 >> {marks}';mark2=sh -c 'echo mark2 >> {marks}'"
    release = threading.Event()

    def slow_then_fast(method, path, body, headers):
        release.wait(timeout=60)  # the first call hangs until the worker is dead
        return 200, {"ok": True}, {}

    server = FakeServer(slow_then_fast)
    kill_test_plan(server.url)
    try:
        run = kill_at_the_slow_step(worker, server, release, commands)
        owner = RecoveryRun.objects.get(id=run.id).lease_owner
        assert owner.startswith("w1-")

        worker(name="w2", ALLOWED_COMMANDS=commands)
        swept = services.runs_sweep()
        assert run.id in swept["resent"]
        done = wait_for(
            lambda: RecoveryRun.objects.filter(id=run.id, finished_at__isnull=False).first(),
            timeout=90,
            message="the second worker to finish the run",
        )
    finally:
        release.set()
        server.close()
    steps = {s.name: s for s in RunStep.objects.filter(run=run)}
    assert done.status == "succeeded", [(s.name, s.status, s.output) for s in steps.values()]
    assert marks.read_text().split() == ["mark1", "mark2"]  # the finished step did not run again
    assert (steps["mark1"].attempts, steps["wait"].attempts, steps["mark2"].attempts) == (1, 2, 1)
    assert done.lease_owner.startswith("w2-")
    assert len(server.requests) == 2
