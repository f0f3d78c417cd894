"""The database-failover, api-rollback, cache-recovery and communications drills exercise what they
name: their seeded steps are rewritten (the PITR branch is connected to and checked, a scratch Worker
rolled back and forward, a scratch Redis re-warmed, every channel sent a marked test message)."""

from django.db import migrations

SCENARIOS = ("database-failover", "api-rollback", "cache-recovery", "communications")


def reseed(apps, schema_editor):
    from recovery.defaults import seed

    seed(apps, only=SCENARIOS, replace=True)


class Migration(migrations.Migration):
    dependencies = [("recovery", "0006_inconclusive_status_and_cleanup_steps")]
    operations = [migrations.RunPython(reseed, migrations.RunPython.noop)]
