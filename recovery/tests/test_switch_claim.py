"""A switch is claimed, not locked, while its back ends are called: two attempts at once → one acts and
the other is told it is in progress; a slow Cloudflare blocks no reader of the switch; a process lost
half-way leaves a claim that times out and is reported, with the row saying what was already done."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client

from pitchey_incidents.models import Event
from pitchey_incidents.testing import child_env, database_url_for_subprocess
from recovery.controls import control_run
from recovery.models import ControlRun, RuntimeFlag
from recovery.switches import switch_claims_sweep

from .targets import write_once

pytestmark = pytest.mark.django_db(transaction=True)  # the attempts run in threads, each on its own connection
DEADLINE_S = 60


class Attempt(threading.Thread):
    """``control_run`` in a thread of its own (its own database connection), as a second click would."""

    def __init__(self, action: str, actor: str):
        super().__init__(daemon=True)
        self.action, self.actor, self.run_row = action, actor, None

    def run(self) -> None:
        try:
            self.run_row = control_run(action=self.action, actor=self.actor)
        finally:
            connection.close()

    def finished(self) -> ControlRun:
        self.join(timeout=DEADLINE_S)
        assert not self.is_alive(), f"{self.actor}'s attempt did not finish in {DEADLINE_S} s"
        return self.run_row


def wait_for(condition, what: str):
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def put_secrets(cf_server) -> list[dict]:
    return [r for r in cf_server.requests if r["method"] == "PUT" and r["path"].endswith("/secrets")]


@pytest.fixture
def viewer(users) -> Client:
    """A viewer's browser (log in again after moving the clock: a session ends with its age)."""
    client = Client()
    client.force_login(users["viewer"])
    return client


def row() -> RuntimeFlag:
    return RuntimeFlag.objects.get(name="READ_ONLY_MODE")


def test_two_attempts_one_acts_the_other_is_told_and_readers_are_not_blocked(pg_protected, cf_server, viewer, api):
    cf_server.hold = threading.Event()
    first = Attempt("read_only_on", "alice")
    first.start()
    try:
        assert cf_server.held.wait(DEADLINE_S), "the first attempt never reached Cloudflare"
        second = Attempt("read_only_on", "bob")
        second.start()
        told = second.finished()  # answered at once, while the first is still waiting on Cloudflare
        assert told.status == "failed" and "is being turned on by alice" in told.output
        assert "nothing was sent" in told.output and told.data["in_progress"]["by"] == "alice"
        # Nobody holds the switch's row: a writer that would wait for a lock gets it at once.
        with transaction.atomic():
            RuntimeFlag.objects.select_for_update(nowait=True).get(name="READ_ONLY_MODE")
        # The readers answer, and show what is already true: the flag is on, the rest is under way.
        banner = viewer.get("/controls/banner/").content.decode()
        assert "Read-only mode is ON</strong> (flags)" in banner
        assert "Read-only mode is being turned on by alice" in banner
        state = next(c for c in api("viewer").get("/api/v1/controls/").json() if c["name"] == "read_only_on")
        assert state["state"] == "on" and state["switching"]["to"] == "on" and state["switching"]["by"] == "alice"
        write_once(pg_protected)  # PostgreSQL's turn has not come yet, and nothing says it has
        assert not row().backends.get("postgres")
    finally:
        cf_server.hold.set()
    done = first.finished()
    assert done.status == "succeeded", done.output
    assert len(put_secrets(cf_server)) == 1 and cf_server.secrets[cf_server.worker] == {"READ_ONLY_MODE": "true"}
    with pytest.raises(Exception, match="read-only transaction"):
        write_once(pg_protected)
    assert not row().switching and row().backends_on == ["cloudflare", "flags", "postgres"]
    assert "being turned" not in viewer.get("/controls/banner/").content.decode()


def test_a_claim_held_past_its_timeout_is_taken_over_and_the_late_answer_is_not_recorded(cf_server, settings, clock):
    settings.TARGET_DATABASE_URL = ""
    settings.SWITCH_CLAIM_TIMEOUT_S = 60
    gate = cf_server.hold = threading.Event()
    stuck = Attempt("maintenance_on", "alice")
    stuck.start()
    try:
        assert cf_server.held.wait(DEADLINE_S)
        clock.advance(seconds=61)
        cf_server.hold = None  # the vendor answers the next one at once
        second = Attempt("maintenance_on", "bob")
        second.start()
        took = second.finished()
    finally:
        gate.set()
    assert took.status == "succeeded", took.output
    assert "took over: turning it on (by alice since" in took.output and "its process was lost" in took.output
    late = stuck.finished()
    assert late.status != "succeeded" and "another attempt took it over" in late.output
    flag = RuntimeFlag.objects.get(name="MAINTENANCE_MODE")
    assert flag.enabled and not flag.switching and flag.changed_by == "bob"


def test_a_process_lost_half_way_is_reported_and_the_switch_can_be_run_again(cf_server, settings, clock, viewer, users):
    settings.TARGET_DATABASE_URL = ""
    gate = cf_server.hold = threading.Event()
    env = child_env(
        CF_API_TOKEN=cf_server.token,
        CF_ACCOUNT_ID=cf_server.account,
        CF_WORKER_NAME=cf_server.worker,
        CLOUDFLARE_API_URL=cf_server.url + "/client/v4",
        TARGET_DATABASE_URL="",
        PITCHEY_ACTOR="carol",
        DATABASE_URL=database_url_for_subprocess(),
    )
    cli = subprocess.Popen([".venv/bin/python", "manage.py", "control", "read_only_on"], env=env)
    try:
        assert cf_server.held.wait(DEADLINE_S), "the command never reached Cloudflare"
        cli.send_signal(signal.SIGKILL)  # lost while Cloudflare was answering
        cli.wait(timeout=DEADLINE_S)
    finally:
        gate.set()
        cli.kill()
    cf_server.hold = None
    left = row()
    assert left.switching and left.switching_by == "cli:carol" and left.backends_on == ["flags"]
    clock.set(left.switching_since + timedelta(seconds=1))
    refused = control_run(action="read_only_on", actor="alice")  # still fresh: in progress, nothing sent
    assert refused.status == "failed" and "is being turned on by cli:carol" in refused.output
    assert switch_claims_sweep() == []

    clock.set(left.switching_since + timedelta(seconds=settings.SWITCH_CLAIM_TIMEOUT_S + 1))
    assert switch_claims_sweep() == ["READ_ONLY_MODE"]
    reported = row()
    assert not reported.switching and "never finished: its process was lost. On now: flags" in reported.reason
    assert Event.objects.filter(kind="control.stale", subject="switch:READ_ONLY_MODE").exists()
    viewer.force_login(users["viewer"])
    assert "never finished" in viewer.get("/controls/?fragment=state").content.decode()
    assert switch_claims_sweep() == []  # reported once

    again = control_run(action="read_only_on", actor="alice")
    assert again.status == "succeeded", again.output
    assert cf_server.secrets[cf_server.worker]["READ_ONLY_MODE"] == "true" and row().reason == ""
