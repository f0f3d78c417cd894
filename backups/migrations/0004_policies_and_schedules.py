from django.db import migrations


def seed(apps, schema_editor):
    from backups.defaults import seed_policies

    seed_policies(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("backups", "0003_backups_catalog"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
