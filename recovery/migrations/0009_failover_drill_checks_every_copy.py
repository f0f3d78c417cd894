"""The failover drill counts its source first and checks the PITR copy as it checks a Neon branch
(tables, row counts, a scratch consumer) before stopping it. Plans nobody edited are updated."""

from django.db import migrations

# The steps (actions) as 0007 seeded them: only plans still exactly so are replaced.
SEEDED = {
    "database-failover": [
        "neon.branch_from_pitr",
        "pitr.restore",
        "pitr.stop",
        "postgres.check_copy",
        "neon.delete_branch",
    ],
}


def seed(apps, schema_editor):
    from recovery.defaults import seed as seed_plans

    seed_plans(apps, only=tuple(SEEDED), replace=SEEDED)


class Migration(migrations.Migration):
    dependencies = [("recovery", "0008_restore_plans")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
