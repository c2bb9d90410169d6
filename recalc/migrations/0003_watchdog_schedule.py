"""Every qcluster runs the recalc watchdog once a minute (django-q2's scheduler lets only one
cluster take each run), so a job whose worker died is found and resumed without an extra
process to deploy."""

from django.db import migrations

WATCHDOG = "recalc watchdog"


def schedule_watchdog(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=WATCHDOG,
        defaults={
            "func": "recalc.tasks.recalc_watchdog_task",
            "schedule_type": "I",  # minutes
            "minutes": 1,
            "repeats": -1,
        },
    )


def unschedule_watchdog(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=WATCHDOG).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recalc", "0002_job_dispatch_and_worker"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedule_watchdog, unschedule_watchdog)]
