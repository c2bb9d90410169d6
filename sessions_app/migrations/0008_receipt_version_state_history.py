"""Receipt versions applied or discarded before those moves were saved with a history row
still read "Waiting for the recalculation" in the session "as of" a later moment. The job
that carried each such version says when and by whom it ended: a completed job applied it,
a cancelled (discarded) preview discarded it. This writes the missing history row at the
job's finished_at, attributed to the job's author. A version whose job is not known keeps
its history as it is: no moment is invented."""

from django.db import migrations

ENDING_JOB_STATUS = {"applied": "completed", "discarded": "cancelled"}


def record_missing_state_rows(apps, schema_editor):
    ReceiptVersion = apps.get_model("sessions_app", "ReceiptVersion")
    History = apps.get_model("sessions_app", "HistoricalReceiptVersion")
    RecalcJob = apps.get_model("recalc", "RecalcJob")
    for version in ReceiptVersion.objects.exclude(state="pending").order_by("pk").iterator():
        latest = (
            History.objects.filter(id=version.pk).order_by("-history_date", "-history_id").first()
        )
        if latest is None or latest.state == version.state:
            continue
        job = (
            RecalcJob.objects.filter(
                receipt_version_id=version.pk,
                status=ENDING_JOB_STATUS[version.state],
                finished_at__isnull=False,
            )
            .order_by("finished_at", "pk")
            .first()
        )
        if job is None:
            continue
        row = latest
        row.pk = None  # history_id: saved as a new row, every other field as it last stood
        row.state = version.state
        row.history_type = "~"
        row.history_date = max(job.finished_at, latest.history_date)
        row.history_user_id = job.created_by_id
        row.history_change_reason = (
            f"receipts v{version.version} {version.state} by job {job.pk} (recorded from the job)"
        )
        row.save()


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0007_import_summary_and_unassigned_employee"),
        ("recalc", "0003_watchdog_schedule"),
    ]

    operations = [
        migrations.RunPython(record_missing_state_rows, migrations.RunPython.noop, elidable=True),
    ]
