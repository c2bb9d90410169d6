"""An export line's references to its batch and to the batch it replaced become set-based
guards (sessions_app/reference_guards.py) instead of per-row foreign keys: a 100k-employee
export checked the same batch 200k times at commit. (Its revision stays a foreign key: a
guard over 100k distinct revisions, locking each, costs what the foreign key costs.)"""

import django.db.models.deletion
from django.db import migrations, models

from sessions_app.reference_guards import Reference, install, remove

REFERENCES = [
    Reference(
        name="export_line_batch",
        child="exports_exportline",
        columns=("batch_id",),
        parent="exports_exportbatch",
        parent_columns=("id",),
        message="An export line refers to a batch that does not exist.",
    ),
    Reference(
        name="export_line_previous_batch",
        child="exports_exportline",
        columns=("previous_batch_id",),
        parent="exports_exportbatch",
        parent_columns=("id",),
        message="An export line refers to a previous batch that does not exist.",
    ),
]


def guards_install(apps, schema_editor):
    install(schema_editor, REFERENCES)


def guards_remove(apps, schema_editor):
    remove(schema_editor, REFERENCES)


class Migration(migrations.Migration):

    dependencies = [
        ('exports', '0005_session_change_summary'),
    ]

    operations = [
        migrations.AlterField(
            model_name='exportline',
            name='batch',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='lines', to='exports.exportbatch'),
        ),
        migrations.AlterField(
            model_name='exportline',
            name='previous_batch',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='exports.exportbatch'),
        ),
        migrations.RunPython(guards_install, guards_remove, elidable=False),
    ]
