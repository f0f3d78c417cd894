"""The detection drill (the runbook's scenario 2) on existing installs."""

from django.db import migrations


def seed(apps, schema_editor):
    from recovery.defaults import seed as _seed

    _seed(apps, only=("detection",))


class Migration(migrations.Migration):
    dependencies = [("recovery", "0010_sessions_in_the_backup_restore_drill")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
