"""The other emergency controls against real components: the two caches (a real Redis whose broker
database survives), scaling against the local Neon server, idle connections on a pgbench target,
the Worker rollback and its undo, the emergency backup."""

import psycopg
import pytest
import redis
from kombu import Connection

from backups.models import Backup
from pitchey_incidents.errors import DomainError
from recovery.controls import control_run, control_undo
from recovery.models import ControlRun

pytestmark = pytest.mark.django_db


def queue_tasks(broker_url: str, n: int) -> None:
    with Connection(broker_url) as conn:
        queue = conn.SimpleQueue("default")
        for i in range(n):
            queue.put({"task": "incidents.tasks.detection_run", "id": i})
        queue.close()


def queued(broker_url: str) -> int:
    with Connection(broker_url) as conn:
        queue = conn.SimpleQueue("default")
        try:
            return queue.qsize()
        finally:
            queue.close()


def test_flush_app_cache_flushes_the_target_and_the_broker_keeps_its_tasks(redis_server, settings):
    settings.CELERY_BROKER_URL = f"{redis_server}/1"
    settings.REDIS_URL = f"{redis_server}/2"
    settings.TARGET_REDIS_URL = f"{redis_server}/5"
    queue_tasks(settings.CELERY_BROKER_URL, 3)
    cache = redis.Redis.from_url(settings.TARGET_REDIS_URL)
    cache.mset({"session:1": "a", "page:/": "b"})
    run = control_run(action="flush_app_cache", actor="alice")
    assert run.status == "succeeded" and "flushed 2 key(s)" in run.output
    assert cache.dbsize() == 0 and queued(settings.CELERY_BROKER_URL) == 3
    assert run.requests == [{"method": "FLUSHDB", "url": f"{redis_server}/5", "body": None, "sent": True}]


@pytest.mark.parametrize(
    ("target", "clash"),
    [
        ("{base}/1", "the Celery broker"),
        ("redis://localhost:{port}", "the event pub/sub"),  # db 0 and localhost, resolved
        ("redis://localhost:{port}/0?x=1", "the event pub/sub"),
    ],
)
def test_flush_app_cache_refuses_our_own_databases_and_says_why(redis_server, settings, target, clash):
    port = redis_server.rsplit(":", 1)[1]
    settings.CELERY_BROKER_URL = f"{redis_server}/1"
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    settings.TARGET_REDIS_URL = target.format(base=redis_server, port=port)
    queue_tasks(settings.CELERY_BROKER_URL, 2)
    redis.Redis.from_url(f"{redis_server}/0").set("stream:wake", "1")
    run = control_run(action="flush_app_cache", actor="alice")
    assert run.status == "failed" and f"refused: 127.0.0.1:{port}/" in run.output and clash in run.output
    assert queued(settings.CELERY_BROKER_URL) == 2
    assert redis.Redis.from_url(f"{redis_server}/0").get("stream:wake") == b"1"


def test_the_old_purge_cache_name_flushes_the_app_cache_never_redis_url(redis_server, settings):
    settings.TARGET_REDIS_URL = ""
    settings.CELERY_BROKER_URL = settings.REDIS_URL = f"{redis_server}/1"
    queue_tasks(settings.CELERY_BROKER_URL, 1)
    run = control_run(action="purge_cache", actor="alice")
    assert run.status == "failed" and "set TARGET_REDIS_URL" in run.output
    assert queued(settings.CELERY_BROKER_URL) == 1


def test_purge_edge_cache_everything_or_by_tags(cf_server):
    everything = control_run(action="purge_edge_cache", actor="alice")
    by_tags = control_run(action="purge_edge_cache", params={"tags": "pitches,users"}, actor="alice")
    assert everything.ok and by_tags.ok and "purged tags: pitches, users" in by_tags.output
    assert cf_server.purges == [{"purge_everything": True}, {"tags": ["pitches", "users"]}]
    both = control_run(action="purge_edge_cache", params={"tags": "a", "files": "https://x/1"}, actor="alice")
    assert both.status == "failed" and "one kind at a time" in both.output and len(cf_server.purges) == 2


def test_purge_edge_cache_retries_a_429(cf_server):
    cf_server.rate_limited = 2
    assert control_run(action="purge_edge_cache", actor="alice").ok
    assert cf_server.purges == [{"purge_everything": True}]


def test_scale_reads_the_current_size_then_grows_and_offers_scale_back(neon_server):
    run = control_run(action="scale_database", params={"size": "xlarge"}, actor="alice", incident="INC-00002")
    assert run.status == "succeeded", run.output
    assert neon_server.compute == {"autoscaling_limit_min_cu": 4.0, "autoscaling_limit_max_cu": 8.0}
    assert run.data["previous"] == {"min_cu": 1.0, "max_cu": 2.0} and "was 1.0–2.0 CU" in run.output
    patch = [r for r in run.requests if r["method"] == "PATCH"]
    assert patch[0]["body"] == {"endpoint": {"autoscaling_limit_min_cu": 4.0, "autoscaling_limit_max_cu": 8.0}}
    assert run.undo["label"] == "Scale back to 1.0–2.0 CU"
    back = control_undo(run_id=run.id, actor="bob")
    assert back.status == "succeeded" and back.incident == "INC-00002"
    assert neon_server.compute == {"autoscaling_limit_min_cu": 1.0, "autoscaling_limit_max_cu": 2.0}


def test_scale_never_shrinks_without_allow_shrink(neon_server):
    neon_server.compute = {"autoscaling_limit_min_cu": 2.0, "autoscaling_limit_max_cu": 4.0}
    refused = control_run(action="scale_database", params={"size": "small"}, actor="alice")
    assert refused.status == "failed" and "would shrink" in refused.output and "allow_shrink" in refused.output
    assert not [r for r in neon_server.requests if r["method"] == "PATCH"]
    neon_server.rate_limited = 1
    done = control_run(action="scale_database", params={"size": "small", "allow_shrink": True}, actor="alice")
    assert done.ok and neon_server.compute["autoscaling_limit_max_cu"] == 1.0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"size": "huge"}, "params.size"),
        ({}, "params.size"),
        ({"min_cu": "x", "max_cu": "2"}, "params.min_cu"),
        ({"min_cu": "4", "max_cu": "2"}, "params.min_cu"),
        ({"size": "large", "min_cu": "1", "max_cu": "2"}, "params.size"),
    ],
)
def test_scale_bad_input_names_the_field_and_runs_nothing(neon_server, params, field):
    with pytest.raises(DomainError) as err:
        control_run(action="scale_database", params=params, actor="alice")
    assert err.value.field == field and neon_server.requests == [] and not ControlRun.objects.exists()


def test_kill_idle_connections_dry_run_lists_the_sessions_first(pg_protected):
    idle = psycopg.connect(pg_protected, autocommit=True, application_name="pitchey-idle-client")
    pid = idle.info.backend_pid
    dry = control_run(action="kill_idle_connections", params={"idle_minutes": 0}, actor="alice", dry_run=True)
    assert dry.ok and f"{pid} postgres pitchey-idle-client" in dry.output
    assert dry.requests[0]["method"] == "SQL" and not dry.requests[0]["sent"]
    idle.execute("SELECT 1")  # still alive after the dry run
    done = control_run(action="kill_idle_connections", params={"idle_minutes": 0}, actor="alice")
    assert done.ok and pid in done.data["pids"]
    with pytest.raises(psycopg.OperationalError):
        idle.execute("SELECT 1")


def test_rollback_deploys_the_previous_version_and_undo_goes_forward(cf_server):
    run = control_run(action="rollback_deploy", actor="alice")
    assert run.status == "succeeded" and cf_server.live() == "v2"
    assert run.undo["params"] == {"version_id": "v3"}
    control_undo(run_id=run.id, actor="alice")
    assert cf_server.live() == "v3"


def test_a_dry_run_names_the_target_as_written_without_its_password(settings, tmp_path):
    settings.TARGET_DATABASE_URL = f"sqlite:///{tmp_path}/app.sqlite3"  # an absolute path: four slashes
    dry = control_run(action="emergency_backup", actor="alice", dry_run=True)
    assert dry.output == f"would back up sqlite:///{tmp_path}/app.sqlite3"
    settings.TARGET_DATABASE_URL = "postgresql://app:hunter2@db.internal:5432/app?sslmode=require"
    dry = control_run(action="emergency_backup", actor="alice", dry_run=True)
    assert dry.output == "would back up postgresql://app:****@db.internal:5432/app?sslmode=require"
    assert "hunter2" not in str(dry.requests) and not Backup.objects.exists()


@pytest.mark.postgres  # the target is this test's own database: a PostgreSQL URL
def test_emergency_backup_queues_a_database_backup(settings):
    dry = control_run(action="emergency_backup", actor="alice", dry_run=True)
    assert dry.ok and dry.output.startswith("would back up postgresql://") and not Backup.objects.exists()
    assert [(r["method"], r["sent"]) for r in dry.requests] == [("PG_DUMP", False)]
    run = control_run(action="emergency_backup", actor="alice")
    backup = Backup.objects.get()
    assert run.ok and run.data == {"backup": backup.id} and backup.kind == "database"
    assert backup.requested_by == "alice"
