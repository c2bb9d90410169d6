"""The watchdog: a job whose worker died is failed ('worker lost'), resumed, and finished by
another worker; a job the broker lost is handed to it again."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from audit.models import ActivityEvent, Notification
from recalc.models import RecalcJob
from recalc.progress import JobLost, JobMonitor
from recalc.services import (
    AUTO_RESUME_ATTEMPTS,
    _claim,
    recalc_job_run,
    recalc_jobs_fail_stale,
    recalc_jobs_recover,
)
from recalc.tasks import recalc_watchdog_task
from sessions_app.models import EmployeeRevision, ProcessingSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def crashed_job(make_session, upload_receipts, hold_jobs):
    """A receipts v2 job a worker claimed, then died on: its heartbeat is five minutes old."""
    session = make_session()
    hold_jobs()
    version = upload_receipts(session, "receipts_2026_10_v2.csv")
    job = _claim(RecalcJob.objects.get(receipt_version=version).pk)
    RecalcJob.objects.filter(pk=job.pk).update(
        stage=5, stage_name="apply", heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    return job


def test_it_fails_a_job_without_heartbeat_resumes_it_and_another_worker_finishes_it(
    crashed_job, operator
):
    recovery = recalc_jobs_recover()

    assert (recovery.failed, recovery.resumed) == ([crashed_job.pk], [crashed_job.pk])
    job = RecalcJob.objects.get(pk=crashed_job.pk)
    assert job.status == RecalcJob.Status.QUEUED and job.message == "Resumed by watchdog"
    assert job.errors == [{"stage": "apply", "error": "worker lost", "code": "worker_lost"}]
    assert job.session.status == ProcessingSession.Status.REPROCESSING
    assert not Notification.objects.filter(user=operator).exclude(level="success").exists()

    finished = recalc_job_run(job_id=job.pk)

    assert finished.status == RecalcJob.Status.COMPLETED and finished.attempts == 2
    assert EmployeeRevision.objects.get(employee_id="E1005").status == "excess_receipts"
    events = ActivityEvent.objects.filter(details__job=job.pk).order_by("id")
    assert list(events.values_list("verb", "actor_label")) == [
        ("job_failed", "olivia"),
        ("job_resumed", "watchdog"),
        ("job_finished", "olivia"),
    ]


def test_it_leaves_a_job_with_a_fresh_heartbeat_alone(crashed_job):
    RecalcJob.objects.filter(pk=crashed_job.pk).update(heartbeat_at=timezone.now())

    recovery = recalc_jobs_recover()

    assert (recovery.failed, recovery.resumed, recovery.redispatched) == ([], [], [])
    assert RecalcJob.objects.get(pk=crashed_job.pk).status == RecalcJob.Status.RUNNING


def test_it_stops_resuming_a_job_that_keeps_killing_its_worker(crashed_job, operator):
    RecalcJob.objects.filter(pk=crashed_job.pk).update(attempts=AUTO_RESUME_ATTEMPTS)

    recovery = recalc_jobs_recover()

    assert (recovery.failed, recovery.resumed) == ([crashed_job.pk], [])
    job = RecalcJob.objects.get(pk=crashed_job.pk)
    assert job.status == RecalcJob.Status.FAILED
    assert job.session.status == ProcessingSession.Status.COMPLETED  # v1 results still there
    note = Notification.objects.get(user=operator, level=Notification.Level.ERROR)
    assert "Worker lost" in note.message


def test_a_worker_back_from_the_dead_cannot_touch_the_job(crashed_job):
    late = JobMonitor(
        job_id=crashed_job.pk, attempt=crashed_job.attempts, side_connection_allowed=False
    )
    recalc_jobs_fail_stale()
    recalc_jobs_recover()
    _claim(crashed_job.pk)  # another worker took it: attempt 2

    with pytest.raises(JobLost):
        late.begin(5, "still applying")

    job = RecalcJob.objects.get(pk=crashed_job.pk)
    assert (job.status, job.attempts, job.message) == ("running", 2, "Resumed by watchdog")


def test_it_hands_a_job_the_broker_lost_to_it_again(make_session, hold_jobs, operator):
    from recalc.services import session_recalculate

    session = make_session()
    dispatched = hold_jobs()
    job = session_recalculate(session=session, actor=operator)
    RecalcJob.objects.filter(pk=job.pk).update(dispatched_at=timezone.now() - timedelta(minutes=10))

    recovery = recalc_jobs_recover()

    assert recovery.redispatched == [job.pk] and dispatched == [job.pk]
    assert recalc_job_run(job_id=job.pk).status == RecalcJob.Status.COMPLETED


def test_the_watchdog_command_says_what_it_did(crashed_job):
    out = io.StringIO()

    call_command("recalc_watchdog", stale_seconds=60, stdout=out)

    assert out.getvalue() == (
        f"worker lost: [{crashed_job.pk}]; resumed: [{crashed_job.pk}]; "
        "handed to the broker again: none\n"
    )


def test_every_cluster_runs_the_watchdog_once_a_minute(crashed_job):
    schedule = Schedule.objects.get(name="recalc watchdog")

    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "recalc.tasks.recalc_watchdog_task",
        Schedule.MINUTES,
        1,
        -1,
    )
    assert recalc_watchdog_task() == (
        f"failed [{crashed_job.pk}], resumed [{crashed_job.pk}], handed again []"
    )
