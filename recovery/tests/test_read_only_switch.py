"""Read-only and maintenance for real: the Cloudflare Worker secret and a pgbench PostgreSQL target
that refuses writes while the switch is on; partial failures, double clicks, undo from rows."""

import subprocess

import psycopg
import pytest

from pitchey_incidents.testing import child_env, database_url_for_subprocess
from recovery.controls import control_run, control_undo
from recovery.models import ControlRun, RuntimeFlag

from .targets import WRITE, read_only_setting, with_name, write_once

pytestmark = pytest.mark.django_db


def flag(name="READ_ONLY_MODE") -> RuntimeFlag:
    return RuntimeFlag.objects.get(name=name)


def test_read_only_refuses_writes_on_the_target_and_sets_the_worker_secret(pg_protected, cf_server):
    write_once(pg_protected)  # writable before
    before = psycopg.connect(pg_protected, autocommit=True)  # a pool connection opened earlier
    run = control_run(action="read_only_on", actor="alice", incident="INC-00007")
    assert run.status == "succeeded", run.output
    assert sorted(run.backends) == ["cloudflare", "flags", "postgres"]
    assert all(b["on"] for b in run.backends.values())
    assert cf_server.secrets[cf_server.worker] == {"READ_ONLY_MODE": "true"}
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        write_once(pg_protected)
    with pytest.raises(psycopg.OperationalError):  # the old session was ended: it reconnects read-only
        before.execute(WRITE)
    sent = [(r["method"], r["body"]) for r in run.requests if r["sent"]]
    assert ("PUT", {"name": "READ_ONLY_MODE", "text": "true", "type": "secret_text"}) in sent
    assert any(m == "SQL" and "SET default_transaction_read_only = on" in b for m, b in sent)
    row = flag()
    assert row.enabled and row.incident == "INC-00007" and row.changed_by == "alice"
    assert run.undo == {"action": "disable_read_only", "params": {}, "label": "Turn READ_ONLY_MODE off"}

    off = control_run(action="read_only_off", actor="bob")
    assert off.status == "succeeded", off.output
    write_once(pg_protected)  # writes succeed again
    assert cf_server.secrets[cf_server.worker] == {"READ_ONLY_MODE": "false"}
    assert not flag().enabled and read_only_setting(pg_protected) == ""
    run.refresh_from_db()
    assert run.undone_by_id == off.id and not run.undo_available


def test_maintenance_sets_its_secret_and_leaves_the_database_alone(pg_protected, cf_server):
    run = control_run(action="maintenance_on", actor="alice")
    assert run.status == "succeeded" and sorted(run.backends) == ["cloudflare", "flags"]
    assert cf_server.secrets[cf_server.worker] == {"MAINTENANCE_MODE": "true"}
    write_once(pg_protected)


def test_partial_failure_reports_both_and_is_not_done(pg_protected, cf_server, unprivileged_role, settings):
    settings.TARGET_DATABASE_URL = with_name(pg_protected, pg_protected.rsplit("/", 1)[1], user=unprivileged_role)
    run = control_run(action="read_only_on", actor="alice")
    assert run.status == "partial" and not run.ok
    assert "failed: postgres" in run.output and "changed: flags, cloudflare" in run.output
    assert "must be owner" in run.backends["postgres"]["output"]
    assert run.backends["cloudflare"]["on"] and not run.backends["postgres"]["on"]
    assert cf_server.secrets[cf_server.worker] == {"READ_ONLY_MODE": "true"}
    write_once(pg_protected)  # PostgreSQL was not switched, and nothing says it was
    assert flag().enabled and flag().backends_on == ["cloudflare", "flags"]
    assert not flag().switching  # the claim is released: it can be run again
    assert run.undo_available  # what is on can be turned off


@pytest.mark.postgres  # the guard compares PostgreSQL URLs: this tool's own database is one
def test_our_own_database_is_never_switched(cf_server, settings):
    settings.TARGET_DATABASE_URL = database_url_for_subprocess().replace("127.0.0.1", "localhost")
    run = control_run(action="read_only_on", actor="alice")
    assert run.status == "partial"
    assert "refused: TARGET_DATABASE_URL is this tool's own database" in run.backends["postgres"]["output"]
    ControlRun.objects.create(name="still-writable", action="x", actor="t")  # our database still takes writes


def test_unconfigured_back_ends_say_what_to_set(no_outside):
    run = control_run(action="read_only_on", actor="alice")
    assert run.status == "succeeded" and run.backends["flags"]["on"]
    assert "set CF_API_TOKEN, CF_ACCOUNT_ID and CF_WORKER_NAME" in run.output
    assert "set TARGET_DATABASE_URL" in run.output
    assert run.backends["cloudflare"]["on"] is False


def test_a_double_click_runs_once(pg_protected, cf_server):
    first = control_run(action="read_only_on", actor="alice", idempotency_key="form-123")
    second = control_run(action="read_only_on", actor="alice", idempotency_key="form-123")
    assert first.id == second.id and ControlRun.objects.count() == 1
    assert [r["method"] for r in cf_server.requests].count("PUT") == 1


def test_dry_run_previews_every_request_and_changes_nothing(pg_protected, cf_server):
    run = control_run(action="read_only_on", actor="alice", dry_run=True)
    assert run.status == "succeeded" and cf_server.requests == [] and not RuntimeFlag.objects.filter(enabled=True)
    preview = [(r["method"], r["url"]) for r in run.requests]
    assert ("PUT", f"{cf_server.url}/client/v4{cf_server.script.removeprefix('/client/v4')}/secrets") in preview
    assert all(not r["sent"] for r in run.requests)
    write_once(pg_protected)
    assert run.undo == {}


def test_secret_edit_deploys_the_latest_version_first_and_retries_429(pg_protected, cf_server):
    rolled_back = {"id": "d-rb", "versions": [{"version_id": "v2", "percentage": 100}]}
    cf_server.deployments[cf_server.worker].insert(0, rolled_back)
    cf_server.rate_limited = 1
    run = control_run(action="maintenance_on", actor="alice")
    assert run.status == "succeeded", run.output
    assert "deployed the latest version v3 first" in run.output
    assert cf_server.secrets[cf_server.worker] == {"MAINTENANCE_MODE": "true"}
    puts = [r for r in run.requests if r["method"] in ("PUT", "POST")]
    assert [r["method"] for r in puts] == ["PUT", "POST", "PUT"]


def test_undo_after_a_restart_restores_the_previous_setting_from_rows(pg_protected, cf_server, transactional_db):
    dbname = pg_protected.rsplit("/", 1)[1]
    with psycopg.connect(with_name(pg_protected, "postgres"), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = off')
    run = control_run(action="read_only_on", actor="alice")
    assert run.status == "succeeded" and flag().backends["postgres"]["previous"] == "off"
    # A new process (nothing in memory): the CLI turns it off from what the rows say.
    env = child_env(
        DATABASE_URL=database_url_for_subprocess(),
        TARGET_DATABASE_URL=pg_protected,
        CF_API_TOKEN=cf_server.token,
        CF_ACCOUNT_ID=cf_server.account,
        CF_WORKER_NAME=cf_server.worker,
        CLOUDFLARE_API_URL=cf_server.url + "/client/v4",
        PITCHEY_ACTOR="carol",
    )
    done = subprocess.run(
        [".venv/bin/python", "manage.py", "control", "undo", str(run.id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert read_only_setting(pg_protected) == "off"  # put back as it was, not RESET
    write_once(pg_protected)
    assert not flag().enabled and cf_server.secrets[cf_server.worker]["READ_ONLY_MODE"] == "false"
    assert ControlRun.objects.get(name="undo:read_only_on").actor == "cli:carol"


def test_undo_twice_is_refused(pg_protected, cf_server):
    run = control_run(action="read_only_on", actor="alice")
    control_undo(run_id=run.id, actor="bob")
    with pytest.raises(Exception) as err:
        control_undo(run_id=run.id, actor="bob")
    assert "nothing to undo" in str(err.value)
