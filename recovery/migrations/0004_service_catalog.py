# The service catalog moves from incidents to recovery, which reads it (RTO targets, recovery order).
# State only: the table stays incidents_service, with every row in it.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('recovery', '0003_runbook_plans'),
        # The table was created by the incidents app's first migration.
        ('incidents', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Service',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('slug', models.SlugField(unique=True)),
                        ('name', models.CharField(max_length=100)),
                        ('description', models.CharField(blank=True, max_length=300)),
                        ('priority', models.CharField(choices=[('P0', 'P0 – Critical'), ('P1', 'P1 – Major'), ('P2', 'P2 – Medium'), ('P3', 'P3 – Low')], max_length=2)),
                        ('rto_target_s', models.PositiveIntegerField()),
                        ('rto_max_s', models.PositiveIntegerField()),
                        ('recovery_order', models.PositiveSmallIntegerField(choices=[(1, 'Restore data integrity'), (2, 'Restore authentication'), (3, 'Restore core API'), (4, 'Restore full service'), (5, 'Optimize performance')])),
                        ('statuspage_component_id', models.CharField(blank=True, help_text='Its component id on Atlassian Statuspage (blank: not published).', max_length=40)),
                    ],
                    options={
                        'db_table': 'incidents_service',
                        'ordering': ['recovery_order', 'priority', 'name'],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
