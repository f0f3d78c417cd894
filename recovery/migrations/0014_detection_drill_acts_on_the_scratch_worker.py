"""The detection drill's new description (its chain acts on the scratch Worker) on existing installs,
unless someone edited the plan's steps."""

from django.db import migrations


def seed(apps, schema_editor):
    from recovery.defaults import seed as _seed

    _seed(apps, only=("detection",), replace={"detection": ["detection.scenario"]})


class Migration(migrations.Migration):
    dependencies = [("recovery", "0013_switch_claimed_while_being_changed")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
