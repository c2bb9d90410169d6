"""Registers the retry, escalation and weekly-report schedules (chasing.schedules)."""

import datetime

from django.db import migrations

from chasing.schedules import schedules


def register(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    now = datetime.datetime.now(datetime.UTC)
    for name, fields in schedules(now).items():
        Schedule.objects.get_or_create(name=name, defaults=fields)


def unregister(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(schedules(
        datetime.datetime.now(datetime.UTC)))).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("chasing", "0001_directory_requests_reports"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(register, unregister)]
