"""The backup-restore drill also loads the newest User Sessions snapshot into a scratch redis-server
and compares its key counts with the manifest. Plans nobody edited are updated."""

from django.db import migrations

# The steps (actions) as 0008 seeded them: only plans still exactly so are replaced.
SEEDED = {"backup-restore": ["restore.scratch", "restore.scratch", "restore.scratch"]}


def seed(apps, schema_editor):
    from recovery.defaults import seed as seed_plans

    seed_plans(apps, only=tuple(SEEDED), replace=SEEDED)


class Migration(migrations.Migration):
    dependencies = [("recovery", "0009_failover_drill_checks_every_copy")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
