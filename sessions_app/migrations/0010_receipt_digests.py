import django.db.models.deletion
from django.db import migrations, models

# A plain ADD COLUMN on both databases (see 0009 for why).
ADD = (
    "ALTER TABLE sessions_app_processingsession "
    "ADD COLUMN matching_basis text NOT NULL DEFAULT ''"
)
DROP = "ALTER TABLE sessions_app_processingsession DROP COLUMN matching_basis"


def digests_backfill(apps, schema_editor):
    """Fingerprint the versions stored before fingerprints existed."""
    from sessions_app.digests import employee_digests

    ReceiptVersion = apps.get_model("sessions_app", "ReceiptVersion")
    ReceiptLine = apps.get_model("sessions_app", "ReceiptLine")
    ReceiptDigest = apps.get_model("sessions_app", "ReceiptDigest")
    for version_id in ReceiptVersion.objects.values_list("pk", flat=True).iterator():
        rows = ReceiptLine.objects.filter(receipt_version_id=version_id).values_list(
            "employee_id", "line_number", "receipt_date", "amount", "receipt_id", "merchant"
        )
        ReceiptDigest.objects.bulk_create(
            [
                ReceiptDigest(
                    receipt_version_id=version_id, employee_id=employee_id, lines=count,
                    digest=digest,
                )
                for employee_id, (count, digest) in employee_digests(rows.iterator()).items()
            ],
            batch_size=2000,
        )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0009_line_matching_generations"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD, DROP)],
            state_operations=[
                migrations.AddField(
                    model_name="processingsession",
                    name="matching_basis",
                    field=models.TextField(blank=True, default="", editable=False),
                ),
            ],
        ),
        migrations.CreateModel(
            name="ReceiptDigest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("employee_id", models.CharField(max_length=100)),
                ("lines", models.PositiveIntegerField()),
                ("digest", models.CharField(max_length=32)),
                (
                    "receipt_version",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="digests",
                        to="sessions_app.receiptversion",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["receipt_version", "employee_id"], name="receipt_digest_lookup"
                    )
                ],
            },
        ),
        migrations.RunPython(digests_backfill, migrations.RunPython.noop),
    ]
