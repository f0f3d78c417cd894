# The service catalog is recovery's now (recovery 0004): incidents, probes and detection cases point
# at recovery.Service. State only: the table (incidents_service), the M2M table
# (incidents_incident_services) and their columns and constraints are unchanged.

import django.db.models.deletion
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    """Permissions and admin history follow the model: its content type changes app."""
    ContentType = apps.get_model('contenttypes', 'ContentType')
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label='recovery', model='service').exists():
        ContentType.objects.using(db).filter(app_label='incidents', model='service').update(app_label='recovery')


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label='incidents', model='service').exists():
        ContentType.objects.using(db).filter(app_label='recovery', model='service').update(app_label='incidents')


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0006_backup_rpo_probe'),
        ('recovery', '0004_service_catalog'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='detectioncase',
                    name='service',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='recovery.service'),
                ),
                migrations.AlterField(
                    model_name='probe',
                    name='service',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='probes', to='recovery.service'),
                ),
                migrations.AlterField(
                    model_name='incident',
                    name='services',
                    field=models.ManyToManyField(blank=True, related_name='incidents', to='recovery.service'),
                ),
                migrations.DeleteModel(
                    name='Service',
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, restore_content_type),
    ]
