"""A database migrated before the incident domain was split (and the service catalog moved to
recovery) migrates forward with every row kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from incidents.comms.models import Notification
from incidents.detection.models import Probe
from incidents.lifecycle.models import Incident, TimelineEntry
from incidents.postmortems.models import PostMortem
from recovery.models import PlanStep, Service

pytestmark = pytest.mark.django_db(transaction=True)

# The last migration of each of our apps before the split; other apps stay at their latest.
BEFORE = {
    "pitchey_incidents": "0002_role_groups",
    "backups": "0005_first_backups_at_once",
    "recovery": "0003_runbook_plans",
    "incidents": "0006_backup_rpo_probe",
}
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# The split's last migration in recovery: later ones add columns and rewrite drill steps on purpose
# (``test_drill_plans_are_rewritten_and_the_other_plans_kept``).
SPLIT = {"recovery": "0004_service_catalog"}


def _targets(executor: MigrationExecutor) -> list[tuple[str, str]]:
    leaves = [node for node in executor.loader.graph.leaf_nodes() if node[0] not in BEFORE]
    return leaves + list(BEFORE.items())


def _rows(apps, labels: tuple[str, ...]) -> dict[str, list[dict]]:
    """Every row of every table of these apps (many-to-many tables included), keyed by table."""
    rows: dict[str, list[dict]] = {}
    for label in labels:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            rows[model._meta.db_table] = sorted(model.objects.values(), key=lambda row: row["id"])
    return rows


def _insert_before_split(apps) -> None:
    """One row of each kind the split touches, written through the models as they were."""
    Service = apps.get_model("incidents", "Service")
    service = Service.objects.create(
        slug="billing", name="Billing", priority="P1", rto_target_s=600, rto_max_s=1800, recovery_order=3
    )
    incident = apps.get_model("incidents", "Incident").objects.create(
        severity="P1", title="Billing down", declared_at=AT, status="resolved", resolved_at=AT
    )
    incident.services.add(service, Service.objects.get(slug="database"))
    apps.get_model("incidents", "TimelineEntry").objects.create(
        incident=incident, at=AT, kind="declared", actor="test", message="P1 incident declared: Billing down"
    )
    apps.get_model("incidents", "Probe").objects.create(
        name="http-billing", label="Billing health", kind="http", service=service, config={"url": "http://x/"}
    )
    apps.get_model("incidents", "Notification").objects.create(
        incident=incident, channel="slack", target="", kind="declared", context={"id": "INC"}
    )
    apps.get_model("incidents", "PostMortem").objects.create(incident=incident, opened_at=AT, summary="s")


def test_a_database_migrated_before_the_split_migrates_forward_with_every_row():
    executor = MigrationExecutor(connection)
    executor.migrate(_targets(executor))
    before_apps = MigrationExecutor(connection).loader.project_state(_targets(executor)).apps
    assert before_apps.get_model("incidents", "Service")._meta.db_table == "incidents_service"
    _insert_before_split(before_apps)
    before = _rows(before_apps, ("incidents", "recovery"))

    executor = MigrationExecutor(connection)
    split = [n for n in executor.loader.graph.leaf_nodes() if n[0] not in SPLIT] + list(SPLIT.items())
    executor.migrate(split)
    after_apps = MigrationExecutor(connection).loader.project_state(split).apps
    after = _rows(after_apps, ("incidents", "recovery"))
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # the rest of the way, for the next tests

    # Tables that later migrations added (paging people, calendar feeds) are new and empty.
    added = {"incidents_contactmethod", "incidents_notificationrule", "incidents_usedlink", "incidents_calendarfeed"}
    assert set(after) - added == set(before)  # the same tables: the catalog kept its table, incidents_service
    assert all(after[table] == [] for table in added)
    assert {t: rows for t, rows in after.items() if t not in added} == before  # every row, every value
    billing = Service.objects.get(slug="billing")
    incident = Incident.objects.get(title="Billing down")
    assert sorted(incident.services.values_list("slug", flat=True)) == ["billing", "database"]
    assert list(billing.incidents.all()) == [incident]
    assert Probe.objects.get(name="http-billing").service == billing
    assert TimelineEntry.objects.get(incident=incident).message == "P1 incident declared: Billing down"
    assert Notification.objects.get(incident=incident).channel == "slack"
    assert PostMortem.objects.get(incident=incident).summary == "s"
    # Permissions and admin history follow the model to its new app.
    assert ContentType.objects.get_for_model(Service).app_label == "recovery"
    assert not ContentType.objects.filter(app_label="incidents", model="service").exists()


def test_drill_plans_are_rewritten_and_the_other_plans_kept():
    executor = MigrationExecutor(connection)
    executor.migrate([("recovery", "0006_inconclusive_status_and_cleanup_steps")])
    old_apps = executor.loader.project_state([("recovery", "0006_inconclusive_status_and_cleanup_steps")]).apps
    Step = old_apps.get_model("recovery", "PlanStep")
    before = {(s.plan.slug, s.name): s.action for s in Step.objects.select_related("plan")}
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    after = {(s.plan.slug, s.name): s.action for s in PlanStep.objects.select_related("plan")}
    drills = {"database-failover", "api-rollback", "cache-recovery", "communications"}
    assert {k: v for k, v in after.items() if k[0] not in drills} == {
        k: v for k, v in before.items() if k[0] not in drills
    }
    assert after[("database-failover", "check_branch")] == "postgres.check_copy"
    assert PlanStep.objects.get(plan__slug="database-failover", name="delete_branch").always
    assert after[("api-rollback", "rollback")] == "cloudflare.rollback_drill"
