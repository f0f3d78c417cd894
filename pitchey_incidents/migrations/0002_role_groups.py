from django.db import migrations


def seed(apps, schema_editor):
    from pitchey_incidents.defaults import seed as _seed

    _seed(apps)


class Migration(migrations.Migration):
    dependencies = [("pitchey_incidents", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
