"""User sessions get a backup kind: a snapshot of TARGET_REDIS_URL every 5 minutes, kept briefly,
with its schedule; the data type points at it (if nobody changed it)."""

from django.db import migrations, models


def seed(apps, schema_editor):
    from backups.defaults import seed_policies

    DataType = apps.get_model("backups", "DataType")
    DataType.objects.filter(slug="sessions", backup_kind="").update(backup_kind="sessions")
    seed_policies(apps)


KINDS = [
    ("database", "Database"),
    ("config", "Config"),
    ("media", "Media"),
    ("full", "Full"),
    ("sessions", "Sessions"),
    ("basebackup", "Basebackup"),
    ("wal", "Wal"),
]


class Migration(migrations.Migration):
    dependencies = [("backups", "0007_restores"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [
        migrations.AlterField(model_name="backup", name="kind", field=models.CharField(choices=KINDS, max_length=20)),
        migrations.AlterField(
            model_name="backuppolicy", name="kind", field=models.CharField(choices=KINDS, max_length=20, unique=True)
        ),
        migrations.AlterField(model_name="restore", name="kind", field=models.CharField(choices=KINDS, max_length=20)),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
