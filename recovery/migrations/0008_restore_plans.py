"""Media and configuration plans that restore the newest verified copy when files are missing, and
a backup-restore drill that restores every kind into scratch. Plans nobody edited are updated."""

from django.db import migrations

# The steps (actions) as 0003 seeded them: only plans still exactly so are replaced.
SEEDED = {
    "media": ["verify", "cloudflare.purge_cache", "verify"],
    "backup-restore": ["postgres.restore_scratch"],
}


def seed(apps, schema_editor):
    from recovery.defaults import seed as seed_plans

    seed_plans(apps, replace=SEEDED)


class Migration(migrations.Migration):
    dependencies = [("recovery", "0007_drills_that_exercise_what_they_name")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
