"""Receipt versions whose move to applied was never saved with a history row: the data
migration writes that row from the job that applied them, so the session "as of" a moment
after the job shows them applied, and before it still waiting."""

from __future__ import annotations

import datetime
import importlib

import pytest
from django.apps import apps
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from recalc.models import RecalcJob
from sessions_app.models import EmployeeRevision, ProcessingSession, ReceiptVersion

pytestmark = pytest.mark.django_db

migration = importlib.import_module("sessions_app.migrations.0008_receipt_version_state_history")


def _as_of_page(client, session, at: datetime.datetime) -> str:
    url = reverse("audit:session_as_of", args=[session.pk])
    stamp = timezone.localtime(at).strftime("%Y-%m-%dT%H:%M:%S")
    return client.get(url, {"at": stamp}).content.decode()


def _without_the_applied_row(session):
    """The history as it was written before the move to applied kept its own row, moved an
    hour back so moments between the upload and the job's end are in the past."""
    shift = F("history_date") - datetime.timedelta(hours=1)
    ProcessingSession.history.filter(id=session.pk).update(history_date=shift)
    EmployeeRevision.history.filter(session_id=session.pk).update(history_date=shift)
    ReceiptVersion.history.filter(session_id=session.pk).update(history_date=shift)
    ReceiptVersion.history.filter(session_id=session.pk, state="applied").delete()
    job = RecalcJob.objects.get(session=session, status=RecalcJob.Status.COMPLETED)
    uploaded_at = ReceiptVersion.history.get(session_id=session.pk).history_date
    finished_at = uploaded_at + datetime.timedelta(minutes=10)
    RecalcJob.objects.filter(pk=job.pk).update(finished_at=finished_at)
    return job, uploaded_at, finished_at


def test_the_applied_row_is_written_at_the_job_end_by_the_job_author(
    client, operator, make_session
):
    session = make_session()
    job, uploaded_at, finished_at = _without_the_applied_row(session)
    assert job.receipt_version_id is not None
    client.force_login(operator)
    later = finished_at + datetime.timedelta(minutes=5)
    assert "· Waiting for the recalculation" in _as_of_page(client, session, later)

    migration.record_missing_state_rows(apps, None)

    row = ReceiptVersion.history.get(session_id=session.pk, state="applied")
    assert row.history_date == finished_at
    assert row.history_user_id == operator.pk
    assert (
        row.history_change_reason == f"receipts v1 applied by job {job.pk} (recorded from the job)"
    )
    assert "v1 · Replace (complete report) · Applied" in _as_of_page(client, session, later)
    before = _as_of_page(client, session, uploaded_at + datetime.timedelta(minutes=5))
    assert "v1 · Replace (complete report) · Waiting for the recalculation" in before


def test_a_second_run_and_a_complete_history_write_nothing(operator, make_session):
    session = make_session()
    complete = ReceiptVersion.history.filter(session_id=session.pk).count()
    migration.record_missing_state_rows(apps, None)
    assert ReceiptVersion.history.filter(session_id=session.pk).count() == complete

    _without_the_applied_row(session)
    migration.record_missing_state_rows(apps, None)
    migration.record_missing_state_rows(apps, None)
    assert ReceiptVersion.history.filter(session_id=session.pk).count() == complete


def test_a_version_whose_job_is_unknown_keeps_its_history(operator, make_session):
    session = make_session()
    job, _, _ = _without_the_applied_row(session)
    RecalcJob.objects.filter(pk=job.pk).update(status=RecalcJob.Status.FAILED)
    migration.record_missing_state_rows(apps, None)
    assert not ReceiptVersion.history.filter(session_id=session.pk, state="applied").exists()
