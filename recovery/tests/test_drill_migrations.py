"""The failover drill's copy checks and the sessions step of the backup-restore drill reach existing
installations: plans still as seeded are rewritten, plans someone edited are kept as they are."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from recovery.models import PlanStep

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = ("recovery", "0008_restore_plans")


def _steps(slug: str) -> list[tuple[str, str]]:
    return list(PlanStep.objects.filter(plan__slug=slug).order_by("position").values_list("name", "action"))


# The steps as 0007 and 0008 seeded them.
SEEDED = {
    "database-failover": [
        ("branch", "neon.branch_from_pitr"),
        ("pitr", "pitr.restore"),
        ("pitr_stop", "pitr.stop"),
        ("check_branch", "postgres.check_copy"),
        ("delete_branch", "neon.delete_branch"),
    ],
    "backup-restore": [
        ("restore_database", "restore.scratch"),
        ("restore_config", "restore.scratch"),
        ("restore_media", "restore.scratch"),
    ],
}


def _as_seeded_at_0008(edit: str = "") -> None:
    """Back to 0008 with the two drills' steps as it seeded them (``edit``: one step removed by hand)."""
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    Step = executor.loader.project_state([BEFORE]).apps.get_model("recovery", "PlanStep")
    for slug, steps in SEEDED.items():
        plan = Step._meta.get_field("plan").related_model.objects.get(slug=slug)
        Step.objects.filter(plan=plan).delete()
        for position, (name, action) in enumerate(steps, start=1):
            if name != edit:
                Step.objects.create(plan=plan, position=position, name=name, title=name, action=action)


def _forward() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_drill_plans_as_seeded_get_the_copy_checks_and_the_sessions_step():
    _as_seeded_at_0008()
    _forward()
    assert _steps("database-failover") == [
        ("source", "postgres.source_counts"),
        ("branch", "neon.branch_from_pitr"),
        ("pitr", "pitr.restore"),
        ("check_pitr", "postgres.check_copy"),
        ("pitr_stop", "pitr.stop"),
        ("check_branch", "postgres.check_copy"),
        ("delete_branch", "neon.delete_branch"),
    ]
    assert [name for name, _ in _steps("backup-restore")][-1] == "restore_sessions"


def test_drill_plans_someone_edited_are_kept():
    _as_seeded_at_0008(edit="pitr_stop")
    _forward()
    assert [n for n, _ in _steps("database-failover")] == ["branch", "pitr", "check_branch", "delete_branch"]
    _as_seeded_at_0008(edit="restore_config")
    _forward()
    assert [n for n, _ in _steps("backup-restore")] == ["restore_database", "restore_media"]
