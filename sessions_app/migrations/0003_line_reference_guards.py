"""The references of the tables written in bulk (statement lines, revisions and their history
rows) become set-based guards instead of per-row foreign keys: see
sessions_app/reference_guards.py."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from sessions_app.reference_guards import Reference, install, remove

REFERENCES = [
    Reference(
        name="card_line_session",
        child="sessions_app_cardtransaction",
        columns=("session_id",),
        parent="sessions_app_processingsession",
        parent_columns=("id",),
        message="A card line refers to a session that does not exist.",
    ),
    Reference(
        name="receipt_line_version",
        child="sessions_app_receiptline",
        columns=("receipt_version_id", "session_id"),
        parent="sessions_app_receiptversion",
        parent_columns=("id", "session_id"),
        message="A receipt line refers to a receipts version that does not exist in its session.",
    ),
    Reference(
        name="revision_session",
        child="sessions_app_employeerevision",
        columns=("session_id",),
        parent="sessions_app_processingsession",
        parent_columns=("id",),
        message="An employee revision refers to a session that does not exist.",
    ),
    Reference(
        name="revision_history_user",
        child="sessions_app_historicalemployeerevision",
        columns=("history_user_id",),
        parent="auth_user",
        parent_columns=("id",),
        message="A revision history row refers to a user that does not exist.",
    ),
]


def guards_install(apps, schema_editor):
    install(schema_editor, REFERENCES)


def guards_remove(apps, schema_editor):
    remove(schema_editor, REFERENCES)


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0002_revision_export_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="cardtransaction",
            name="session",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="card_transactions",
                to="sessions_app.processingsession",
            ),
        ),
        migrations.AlterField(
            model_name="receiptline",
            name="receipt_version",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="lines",
                to="sessions_app.receiptversion",
            ),
        ),
        migrations.AlterField(
            model_name="receiptline",
            name="session",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="receipt_lines",
                to="sessions_app.processingsession",
            ),
        ),
        migrations.AlterField(
            model_name="employeerevision",
            name="session",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="revisions",
                to="sessions_app.processingsession",
            ),
        ),
        migrations.AlterField(
            model_name="historicalemployeerevision",
            name="history_user",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(guards_install, guards_remove, elidable=False),
    ]
