"""What only real concurrency shows: two enqueues racing, progress seen from a second
connection while the job runs, a cancel arriving mid-apply. PostgreSQL only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from core.errors import JobActive
from recalc import engine
from recalc.models import RecalcJob
from recalc.progress import APPLY_PAUSE_ENV, JobMonitor
from recalc.services import recalc_job_cancel, recalc_job_run, session_recalculate
from sessions_app.models import EmployeeRevision, ReceiptVersion
from sessions_app.services import receipt_version_upload
from tests.concurrency import in_thread, wait_for
from tests.recalc.conftest import generated_amounts, history_rows, receipts_csv, revision_rows

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgres_only"),
]


def test_two_concurrent_requests_create_exactly_one_job(make_session, operator, hold_jobs):
    session = make_session()
    hold_jobs()
    barrier = threading.Barrier(2)

    def request() -> RecalcJob:
        barrier.wait()
        return session_recalculate(session=session, actor=operator)

    runs = [in_thread(request) for _ in range(2)]
    for thread, _ in runs:
        thread.join()

    outcomes = [outcome for _, outcome in runs]
    assert sorted(("result" in o, type(o.get("error")).__name__) for o in outcomes) == [
        (False, "JobActive"),
        (True, "NoneType"),
    ]
    assert RecalcJob.objects.filter(session=session, kind="manual").count() == 1


def upload_held(session: Any, operator: Any, employees: int) -> RecalcJob:
    """A new receipts version changing every other employee, its job left queued."""
    version = receipt_version_upload(
        session=session,
        file=receipts_csv(generated_amounts(employees, cents_offset=7, every=2), "v2.csv"),
        actor=operator,
    )
    return RecalcJob.objects.get(receipt_version=version)


def test_progress_is_visible_from_a_second_connection_while_the_job_runs(
    generated_session, operator, hold_jobs, monkeypatch
):
    monkeypatch.setattr(engine, "CHUNK_SIZE", 25)
    monkeypatch.setenv(APPLY_PAUSE_ENV, "0.3")
    session = generated_session(200)
    hold_jobs()
    job = upload_held(session, operator, 200)
    rows_before = revision_rows(session)
    seen: list[tuple[Any, ...]] = []

    thread, outcome = in_thread(lambda: recalc_job_run(job_id=job.pk))
    while thread.is_alive():
        # This connection is the test's: it sees only what the worker thread committed.
        seen.append(
            RecalcJob.objects.values_list("stage", "processed", "total", "heartbeat_at").get(
                pk=job.pk
            )
        )
        if seen[-1][0] == 5 and 0 < seen[-1][1] < seen[-1][2]:
            # Mid-apply: the revisions are still the old ones for everyone else.
            assert revision_rows(session) == rows_before
        time.sleep(0.05)
    thread.join()

    assert "error" not in outcome and outcome["result"].status == "completed"
    applying = {processed for stage, processed, total, _ in seen if stage == 5 and total == 100}
    assert {25, 50, 75} <= applying  # every applied chunk was visible from outside
    beats = [beat for *_, beat in seen if beat]
    assert beats == sorted(beats) and len(set(beats)) >= 4
    assert revision_rows(session) != rows_before


def test_a_cancel_from_another_connection_stops_the_apply_and_changes_nothing(
    generated_session, operator, hold_jobs, monkeypatch
):
    monkeypatch.setattr(engine, "CHUNK_SIZE", 25)
    monkeypatch.setenv(APPLY_PAUSE_ENV, "0.5")
    session = generated_session(200)
    hold_jobs()
    job = upload_held(session, operator, 200)
    rows, history = revision_rows(session), history_rows(session)

    thread, outcome = in_thread(lambda: recalc_job_run(job_id=job.pk))
    wait_for(
        lambda: RecalcJob.objects.filter(pk=job.pk, stage=5, processed__gt=0).exists(),
        what="the first applied chunk",
    )
    recalc_job_cancel(job=job, actor=operator)
    thread.join()

    job.refresh_from_db()
    assert outcome["result"].status == RecalcJob.Status.CANCELLED
    assert job.message == "Cancelled; nothing was changed."
    assert job.receipt_version.state == ReceiptVersion.State.DISCARDED
    assert (revision_rows(session), history_rows(session)) == (rows, history)


def test_a_worker_declared_lost_cannot_commit_its_apply(
    generated_session, operator, hold_jobs, monkeypatch
):
    """The watchdog gave up on a slow worker and another attempt took the job: when the slow
    one reaches its commit, the fence refuses it and its whole apply rolls back."""
    monkeypatch.setattr(engine, "CHUNK_SIZE", 50)
    session = generated_session(100)
    hold_jobs()
    job = upload_held(session, operator, 100)
    rows, history = revision_rows(session), history_rows(session)
    original_advance = JobMonitor.advance

    def taken_away_while_applying(self: JobMonitor, processed: int, message: str | None = None):
        original_advance(self, processed, message)
        if self.stage == 5 and processed == self.total:
            # What a resume by another worker does, from its own connection: a new attempt.
            bump, bumped = in_thread(
                lambda: RecalcJob.objects.filter(pk=job.pk).update(attempts=self.attempt + 1)
            )
            bump.join()
            assert bumped == {"result": 1}

    monkeypatch.setattr(JobMonitor, "advance", taken_away_while_applying)

    thread, outcome = in_thread(lambda: recalc_job_run(job_id=job.pk))
    thread.join()

    assert "error" not in outcome
    assert (revision_rows(session), history_rows(session)) == (rows, history)
    assert (
        EmployeeRevision.objects.filter(session=session, receipt_version_processed=2).count() == 0
    )
    assert RecalcJob.objects.get(pk=job.pk).status == RecalcJob.Status.RUNNING  # not its to end


def test_two_concurrent_enqueues_on_different_sessions_both_run(
    generated_session, operator, hold_jobs
):
    first, second = generated_session(30, name="First"), generated_session(30, name="Second")
    hold_jobs()
    barrier = threading.Barrier(2)

    def request(session: Any) -> Callable[[], RecalcJob]:
        def go() -> RecalcJob:
            barrier.wait()
            return session_recalculate(session=session, actor=operator)

        return go

    runs = [in_thread(request(first)), in_thread(request(second))]
    for thread, _ in runs:
        thread.join()

    assert all("result" in outcome for _, outcome in runs)
    with pytest.raises(JobActive):
        session_recalculate(session=first, actor=operator)
