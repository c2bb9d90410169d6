"""A revision's reference to the export batch that holds its snapshot becomes a set-based
guard instead of a per-row foreign key: every export moves the snapshot of up to 100k
revisions, and the foreign key checked each of them at commit (0.3 s at 100k).

PostgreSQL: one check per INSERT or UPDATE statement over its new rows (updates too: a
per-row check on change would fire for every revision an export moves), the batches named
locked FOR KEY SHARE as a foreign key check would; deleting a batch a revision still names
fails. SQLite: per-row guards; rebuilding the revisions table there drops its triggers, so
the session guard of 0003 is installed again."""

import importlib

import django.db.models.deletion
from django.db import migrations, models

from sessions_app.reference_guards import Reference, install, remove

REVISIONS = "sessions_app_employeerevision"
REFERENCE = Reference(
    name="revision_last_export_batch",
    child=REVISIONS,
    columns=("last_export_batch_id",),
    parent="exports_exportbatch",
    parent_columns=("id",),
    message="An employee revision refers to an export batch that does not exist.",
    updates_per_statement=True,
)


def _revision_guards_of_0003():
    guards = importlib.import_module("sessions_app.migrations.0003_line_reference_guards")
    return [reference for reference in guards.REFERENCES if reference.child == REVISIONS]


def guard_install(apps, schema_editor):
    # SQLite rebuilt the table for the AlterField: the session guard of 0003 goes back too.
    again = _revision_guards_of_0003() if schema_editor.connection.vendor == "sqlite" else []
    install(schema_editor, [*again, REFERENCE])


def guard_remove(apps, schema_editor):
    remove(schema_editor, [REFERENCE])


def revision_guards_restored(apps, schema_editor):
    """Backwards, the foreign key coming back rebuilds the table on SQLite: its guards of
    0003 are installed again."""
    if schema_editor.connection.vendor == "sqlite":
        for reference in _revision_guards_of_0003():
            for statement in reference.sqlite():
                schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0004_line_foreign_keys_without_single_indexes"),
        ("sessions_app", "0004_receipt_line_one_index"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, revision_guards_restored, elidable=False),
        migrations.AlterField(
            model_name="employeerevision",
            name="last_export_batch",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="exports.exportbatch",
            ),
        ),
        migrations.RunPython(guard_install, guard_remove, elidable=False),
    ]
