"""Receipt lines: one index serving every lookup (session, version, employee)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0003_line_reference_guards"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="receiptline",
            name="receipt_version_employee",
        ),
        migrations.RemoveIndex(
            model_name="receiptline",
            name="receipt_session_employee",
        ),
        migrations.AddIndex(
            model_name="receiptline",
            index=models.Index(
                fields=["session", "receipt_version", "employee_id"], name="receipt_line_lookup"
            ),
        ),
    ]
