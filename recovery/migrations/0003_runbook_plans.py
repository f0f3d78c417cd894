"""The runbook's recovery plans and drill scenarios, and the monthly drill (first Saturday, 02:00)."""

from django.db import migrations


def seed(apps, schema_editor):
    from recovery.defaults import seed as seed_plans

    seed_plans(apps)
    Crontab = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # The runbook's cron line `0 2 1-7 * 6`: a Saturday among the first seven days of the month.
    schedule, _ = Crontab.objects.get_or_create(
        minute="0", hour="2", day_of_month="1-7", month_of_year="*", day_of_week="6", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name="Monthly disaster-recovery drill",
        defaults={"task": "recovery.tasks.drill_monthly", "crontab": schedule, "queue": "long",
                  "description": "The runbook's monthly DR drill: every scenario on scratch resources."},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0002_plans_runs_drills"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
