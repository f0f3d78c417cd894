"""The built-in mitigation actions against the real PostgreSQL, Redis and Celery."""

import io
import os

import psycopg
import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection

from pitchey_incidents import jobs
from pitchey_incidents.errors import DomainError
from pitchey_incidents.targets import libpq_url
from pitchey_incidents.testing import ClosingServer, database_url_for_subprocess, start_redis, wait_for
from recovery.actions import REGISTRY, get_action
from recovery.models import RuntimeFlag
from recovery.providers.base import get_provider


@pytest.fixture
def scratch_redis(tmp_path):
    """A throwaway redis-server, so flushing it harms nobody; database 3 of it is the target."""
    proc, url = start_redis(tmp_path)
    yield url.rsplit("/", 1)[0] + "/3"
    proc.stop()


def test_registry_lists_the_foundation_actions():
    assert {
        "terminate_idle_connections",
        "purge_cache",
        "enable_read_only",
        "disable_read_only",
        "enable_maintenance",
        "disable_maintenance",
        "restart_worker",
        "run_command",
    } <= set(REGISTRY)
    with pytest.raises(DomainError):
        get_action("nope")


def test_purge_cache_is_the_deprecated_name_of_flush_app_cache(scratch_redis, settings):
    settings.TARGET_REDIS_URL = scratch_redis
    client = redis.Redis.from_url(scratch_redis)
    other_db = redis.Redis.from_url(scratch_redis.rsplit("/", 1)[0] + "/4")
    client.mset({"a": 1, "b": 2, "c": 3})
    other_db.set("keep", 1)
    action = get_action("purge_cache")
    dry = action.run(action.clean({}), dry_run=True)
    assert dry.ok and dry.output.startswith("would flush 3 key(s) from 127.0.0.1:") and client.dbsize() == 3
    done = action.run(action.clean({}))
    assert done.ok and done.data["keys"] == 3
    assert client.dbsize() == 0 and other_db.get("keep") == b"1"


def test_purge_cache_without_a_target_says_so(settings):
    settings.TARGET_REDIS_URL = ""
    settings.REDIS_URL = ""
    action = get_action("purge_cache")
    ok, why = action.available()
    assert not ok and "TARGET_REDIS_URL" in why
    assert not action.run({}).ok


def test_a_redis_health_check_tries_once(settings):
    refusing = ClosingServer()  # accepts every connection and closes it
    settings.TARGET_REDIS_URL = refusing.url
    try:
        outcome = get_provider("redis").do_health(dry_run=False)
    finally:
        refusing.close()
    assert not outcome.ok and "redis unreachable" in outcome.output
    assert refusing.accepted == 1  # redis-py's default would have tried eleven times, backing off


@pytest.fixture
def scratch_pg_url():
    """A database of its own, so terminating its idle connections harms nobody else."""

    base = libpq_url(database_url_for_subprocess())
    name = f"scratch_idle_{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    yield url
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


@pytest.mark.postgres
@pytest.mark.django_db
def test_terminate_idle_connections_on_real_postgres(settings, scratch_pg_url):
    settings.TARGET_DATABASE_URL = scratch_pg_url
    idle = psycopg.connect(scratch_pg_url, autocommit=True)
    idle.execute("SELECT 1")
    pid = idle.info.backend_pid
    action = get_action("terminate_idle_connections")
    dry = action.run(action.clean({"idle_minutes": 0}), dry_run=True)
    assert dry.ok and pid in dry.data["pids"]
    assert idle.execute("SELECT 1").fetchone() == (1,)  # the dry run killed nothing
    done = action.run(action.clean({"idle_minutes": "0"}))
    assert done.ok and pid in done.data["pids"]
    with pytest.raises(psycopg.OperationalError):
        idle.execute("SELECT 1")
    idle.close()
    fresh = action.run(action.clean({"idle_minutes": 10}), dry_run=True)
    assert fresh.ok and fresh.data["pids"] == []


def test_terminate_idle_connections_needs_postgres(settings):
    settings.TARGET_DATABASE_URL = "sqlite:///x.db"
    action = get_action("terminate_idle_connections")
    assert not action.available()[0]
    assert not action.run({"idle_minutes": 10}).ok


@pytest.mark.django_db
def test_flag_actions_toggle_runtime_flags(api):
    for name, flag, state in [
        ("enable_read_only", "READ_ONLY_MODE", True),
        ("enable_maintenance", "MAINTENANCE_MODE", True),
        ("disable_read_only", "READ_ONLY_MODE", False),
    ]:
        assert get_action(name).run({}).ok
        assert RuntimeFlag.objects.get(name=flag).enabled is state
    flags = {f["name"]: f["enabled"] for f in api("viewer").get("/api/v1/flags/").json()}
    assert flags == {"MAINTENANCE_MODE": True, "READ_ONLY_MODE": False}


def test_run_command_only_runs_configured_commands(settings):
    settings.ALLOWED_COMMANDS = {"hello": "echo hello world", "fail": "false", "slow": "sleep 5"}
    settings.COMMAND_TIMEOUT_S = 0.5
    action = get_action("run_command")
    with pytest.raises(DomainError) as err:
        action.clean({"command": "rm -rf /"})
    assert err.value.field == "params.command"
    result = action.run(action.clean({"command": "hello"}))
    assert result.ok and "hello world" in result.output and result.data["exit"] == 0
    assert not action.run({"command": "fail"}).ok
    slow = action.run({"command": "slow"})
    assert not slow.ok and "timed out" in slow.output
    assert action.run({"command": "hello"}, dry_run=True).output == "would run: echo hello world"


@pytest.mark.django_db(transaction=True)
def test_workers_restart_command_restarts_a_real_workers_pool(worker, settings):
    settings.WORKERS_PING_TIMEOUT_S = 1  # a ping nobody answers (every worker, or nobody@nowhere) waits it out
    proc = worker(name="restartme", concurrency=1)
    # A worker that has started may not yet listen for control messages: wait until it answers a ping.
    wait_for(
        lambda: any("restartme" in n for r in jobs.celery_app().control.ping(timeout=1) or [] for n in r),
        timeout=60,
        message="the worker to answer a ping",
    )
    dry = io.StringIO()
    call_command("workers", "restart", "--dry-run", stdout=dry)
    names = [w for w in dry.getvalue().split("pool of ", 1)[1].strip().split(", ") if "restartme" in w]
    assert names, dry.getvalue()
    before = pool_children(proc.popen.pid)
    assert before
    out = io.StringIO()
    call_command("workers", "restart", *names, stdout=out)
    assert out.getvalue().startswith("restarted: ") and names[0] in out.getvalue()
    # The prefork pool's children are replaced by new processes.
    wait_for(
        lambda: (now := pool_children(proc.popen.pid)) and not (now & before),
        timeout=30,
        message="the worker's pool processes to be replaced",
    )
    with pytest.raises(CommandError, match="no worker answered"):
        call_command("workers", "restart", "nobody@nowhere")


def test_restart_worker_is_the_platform_worker_not_ours():
    assert get_action("restart_worker").provider_action == "redeploy_worker"
    assert get_action("restart_database_endpoint").provider_action == "restart_endpoint"


def pool_children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (any of its threads may have forked them)."""
    children = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                children.add(int(entry))
    return children
