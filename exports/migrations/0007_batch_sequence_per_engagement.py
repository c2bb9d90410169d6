"""Batch codes are numbered per engagement (SPEC §6): the batch carries its session's
engagement, and codes are unique within an engagement. Existing batches keep their codes
and sequences: numbered across all engagements before, they are unique within each.

SQLite rebuilds the batches table for the new constraints, and a rebuild fails while
triggers of other tables name it: the reference guards on batches (sessions_app 0005,
exports 0006) are dropped first and installed again after.

Idempotency keys become unique per engagement and each batch keeps the fingerprint of
the request that made it, so a key reused for another request is refused (SPEC §6)."""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from sessions_app.reference_guards import install, remove


def _guards_naming_batches():
    revisions = importlib.import_module("sessions_app.migrations.0005_revision_last_export_batch_guard")
    lines = importlib.import_module("exports.migrations.0006_line_reference_guards")
    return [revisions.REFERENCE, *lines.REFERENCES]


def sqlite_guards_remove(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        remove(schema_editor, _guards_naming_batches())


def sqlite_guards_install(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        install(schema_editor, _guards_naming_batches())


def fill_engagement(apps, schema_editor):
    ProcessingSession = apps.get_model("sessions_app", "ProcessingSession")
    engagement_of_session = models.Subquery(
        ProcessingSession.objects.filter(pk=models.OuterRef("session_id")).values(
            "engagement_id"
        )[:1]
    )
    for model_name in ("ExportBatch", "HistoricalExportBatch"):
        model = apps.get_model("exports", model_name)
        model.objects.filter(engagement__isnull=True).update(engagement_id=engagement_of_session)


def keys_unique_per_engagement(apps, schema_editor):
    """Idempotency keys become unique per engagement (they were per session): where one
    key was used on several sessions, the first batch keeps it."""
    ExportBatch = apps.get_model("exports", "ExportBatch")
    seen = set()
    rows = (
        ExportBatch.objects.filter(idempotency_key__isnull=False)
        .order_by("created_at", "pk")
        .values_list("pk", "engagement_id", "idempotency_key")
    )
    repeated = []
    for pk, engagement_id, key in rows:
        if (engagement_id, key) in seen:
            repeated.append(pk)
        seen.add((engagement_id, key))
    ExportBatch.objects.filter(pk__in=repeated).update(idempotency_key=None)


class Migration(migrations.Migration):

    dependencies = [
        ('exports', '0006_line_reference_guards'),
        ('sessions_app', '0005_revision_last_export_batch_guard'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(sqlite_guards_remove, sqlite_guards_install, elidable=False),
        migrations.RemoveConstraint(
            model_name='exportbatch',
            name='export_batch_unique_period_sequence',
        ),
        migrations.AddField(
            model_name='exportbatch',
            name='engagement',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='sessions_app.engagement'),
        ),
        migrations.AddField(
            model_name='historicalexportbatch',
            name='engagement',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='sessions_app.engagement'),
        ),
        migrations.RunPython(fill_engagement, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='exportbatch',
            name='engagement',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='sessions_app.engagement'),
        ),
        migrations.AlterField(
            model_name='exportbatch',
            name='batch_code',
            field=models.CharField(max_length=40),
        ),
        migrations.AlterField(
            model_name='historicalexportbatch',
            name='batch_code',
            field=models.CharField(max_length=40),
        ),
        migrations.AddConstraint(
            model_name='exportbatch',
            constraint=models.UniqueConstraint(fields=('engagement', 'export_type', 'period', 'sequence'), name='export_batch_unique_engagement_sequence'),
        ),
        migrations.AddConstraint(
            model_name='exportbatch',
            constraint=models.UniqueConstraint(fields=('engagement', 'batch_code'), name='export_batch_unique_engagement_code'),
        ),
        migrations.RemoveConstraint(
            model_name='exportbatch',
            name='export_batch_unique_idempotency_key',
        ),
        migrations.AddField(
            model_name='exportbatch',
            name='request_fingerprint',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name='historicalexportbatch',
            name='request_fingerprint',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.RunPython(keys_unique_per_engagement, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='exportbatch',
            constraint=models.UniqueConstraint(condition=models.Q(('idempotency_key__isnull', False)), fields=('engagement', 'idempotency_key'), name='export_batch_unique_engagement_idempotency_key'),
        ),
        migrations.RunPython(sqlite_guards_install, sqlite_guards_remove, elidable=False),
    ]
