"""The import summary kept with each card statement and receipts version, and the import
profile's employee id for charges without one (SPEC §4).

On SQLite adding a column rebuilds the sessions and receipt-version tables, which the
line guards of 0003 name in their triggers: those guards are dropped before and
installed again after (PostgreSQL adds the columns in place)."""

import importlib

from django.db import migrations, models

PARENTS = {"sessions_app_processingsession", "sessions_app_receiptversion"}


def _guards_naming_the_rebuilt_tables():
    guards = importlib.import_module("sessions_app.migrations.0003_line_reference_guards")
    return [reference for reference in guards.REFERENCES if reference.parent in PARENTS]


def sqlite_guards_removed(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for reference in _guards_naming_the_rebuilt_tables():
            for statement in reference.sqlite_removed():
                schema_editor.execute(statement, params=None)


def sqlite_guards_installed(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for reference in _guards_naming_the_rebuilt_tables():
            for statement in reference.sqlite():
                schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0006_engagement_currency"),
    ]

    operations = [
        migrations.RunPython(sqlite_guards_removed, sqlite_guards_installed, elidable=False),
        migrations.AddField(
            model_name="historicalprocessingsession",
            name="card_import_summary",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="historicalreceiptversion",
            name="import_summary",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="importprofile",
            name="unassigned_employee_id",
            field=models.CharField(
                blank=True,
                help_text="Employee id for charges whose employee id is blank (e.g. UNASSIGNED); empty: such a charge is an error",
                max_length=100,
            ),
        ),
        migrations.AddField(
            model_name="processingsession",
            name="card_import_summary",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="receiptversion",
            name="import_summary",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(sqlite_guards_installed, sqlite_guards_removed, elidable=False),
    ]
