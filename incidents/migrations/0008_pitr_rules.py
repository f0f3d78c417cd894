from django.db import migrations


def seed(apps, schema_editor):
    """The continuous-archiving rules (a WAL gap, a slot keeping too much WAL) on existing installs."""
    from incidents.detection.defaults import PITR_DETECTION, seed as _seed

    _seed(apps, only=PITR_DETECTION)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0007_service_catalog_in_recovery")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
