from django.db import migrations, models

# A plain ADD COLUMN on both databases: Django would rebuild the sessions table on SQLite
# for a column with a default, which the line tables' reference-guard triggers forbid.
ADD = (
    "ALTER TABLE sessions_app_processingsession "
    "ADD COLUMN matching_generation bigint NOT NULL DEFAULT 0"
)
DROP = "ALTER TABLE sessions_app_processingsession DROP COLUMN matching_generation"


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0008_receipt_version_state_history"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD, DROP)],
            state_operations=[
                migrations.AddField(
                    model_name="processingsession",
                    name="matching_generation",
                    field=models.BigIntegerField(default=0, editable=False),
                ),
            ],
        ),
    ]
