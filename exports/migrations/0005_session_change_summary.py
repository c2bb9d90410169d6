"""The per-session change summary, kept by triggers on the revisions table (see
exports/summary_triggers.py), filled for the sessions that exist; and room on each page of
the revisions table for the new version of its rows, so that the export snapshot update of
every exported employee stays on its page (a HOT update: none of the table's indexes is
written again, a third of the WAL of a 100k-employee export)."""

import django.db.models.deletion
from django.db import migrations, models

from exports import summary_triggers

REVISIONS = "sessions_app_employeerevision"
# A row and its updated version both fit on the page: measured at 100k employees, 45 keeps
# every export update on its page (50 kept 83 %). Applies to pages written from now on.
REVISION_FILLFACTOR = 45


def summary_install(apps, schema_editor):
    summary_triggers.install(schema_editor)
    summary_triggers.rebuild(schema_editor)


def summary_remove(apps, schema_editor):
    summary_triggers.remove(schema_editor)


def revision_pages_roomy(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {REVISIONS} SET (fillfactor = {REVISION_FILLFACTOR})")


def revision_pages_full(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {REVISIONS} RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('exports', '0004_line_foreign_keys_without_single_indexes'),
        # After the migrations that rebuild the revisions table on SQLite (which drops its
        # triggers).
        ('sessions_app', '0005_revision_last_export_batch_guard'),
    ]

    operations = [
        migrations.CreateModel(
            name='SessionChangeSummary',
            fields=[
                ('session', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='sessions_app.processingsession')),
                ('new_count', models.BigIntegerField(default=0)),
                ('new_cents', models.BigIntegerField(default=0)),
                ('changed_count', models.BigIntegerField(default=0)),
                ('changed_cents', models.BigIntegerField(default=0)),
                ('unchanged_count', models.BigIntegerField(default=0)),
                ('unchanged_cents', models.BigIntegerField(default=0)),
                ('not_ready_count', models.BigIntegerField(default=0)),
                ('not_ready_cents', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(summary_install, summary_remove, elidable=False),
        migrations.RunPython(revision_pages_roomy, revision_pages_full, elidable=False),
    ]
