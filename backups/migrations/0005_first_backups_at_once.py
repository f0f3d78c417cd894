from django.db import migrations


def start_now(apps, schema_editor):
    from backups.defaults import start_first_backups

    start_first_backups(apps)


class Migration(migrations.Migration):
    dependencies = [("backups", "0004_policies_and_schedules")]
    operations = [migrations.RunPython(start_now, migrations.RunPython.noop)]
