from django.db import migrations


def seed(apps, schema_editor):
    from incidents.detection.defaults import seed as _seed

    _seed(apps)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0003_detection")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
