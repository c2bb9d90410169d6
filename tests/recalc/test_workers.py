"""Real workers: `manage.py qcluster` subprocesses on the test database, a `kill -9` in the
middle of an apply, and two clusters sharing a Redis broker."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django_q.conf import Conf
from django_q.models import Schedule

from audit.models import ActivityEvent, Notification
from recalc.models import RecalcJob
from sessions_app.models import EmployeeRevision, ProcessingSession
from sessions_app.services import receipt_version_upload
from tests.concurrency import wait_for
from tests.recalc.conftest import (
    generated_amounts,
    history_rows,
    receipts_csv,
    revision_rows,
)
from tests.recalc.workers import (
    WorkerDatabase,
    employees_state,
    history_count,
    qcluster,
    watchdog,
)
from tests.samples import AFTER_V1, fixture_file, results

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

AFTER_V2_STATUSES = {
    "E1001": "matched",
    "E1002": "matched",
    "E1003": "matched",
    "E1004": "matched",
    "E1005": "excess_receipts",
    "E1006": "matched",
    "E1007": "matched",
    "E1008": "no_card_activity",
}


@pytest.fixture
def db_for_workers(tmp_path: Path) -> WorkerDatabase:
    # The scheduled watchdog would run on its own clock; these tests call it when they mean to.
    Schedule.objects.all().delete()
    return WorkerDatabase(tmp_path)


def test_a_real_worker_processes_a_session_end_to_end(
    db_for_workers, through_the_broker, make_session, operator, tmp_path
):
    session = make_session()  # queued on the ORM broker, not run
    job = RecalcJob.objects.get(session=session)
    assert job.status == RecalcJob.Status.QUEUED

    db_for_workers.hand_over()
    worker = qcluster(db_for_workers, tmp_path, "worker")
    try:
        wait_for(
            lambda: db_for_workers.job(job.pk)["status"] == "completed",
            timeout=45,
            what="the job to complete",
        )
    finally:
        worker.kill()
    db_for_workers.take_back()

    job.refresh_from_db()
    session.refresh_from_db()
    assert results(session) == AFTER_V1
    assert session.status == ProcessingSession.Status.COMPLETED
    assert job.attempts == 1 and job.progress == 1.0
    assert worker.owns(int(job.claimed_by.rsplit(":", 1)[1])) is False  # it has exited
    assert int(job.claimed_by.rsplit(":", 1)[1]) != os.getpid()
    history = EmployeeRevision.history.model.objects.filter(session_id=session.pk)
    assert {(h.history_user.username, h.history_change_reason) for h in history} == {
        ("olivia", "receipts v1 applied")
    }
    assert Notification.objects.get(user=operator).level == Notification.Level.SUCCESS


def _upload_v2(session: Any, operator: Any, employees: int) -> RecalcJob:
    version = receipt_version_upload(
        session=session,
        file=receipts_csv(generated_amounts(employees, cents_offset=3), "v2.csv"),
        actor=operator,
    )
    return RecalcJob.objects.get(receipt_version=version)


def test_kill_minus_9_during_the_apply_then_resume_gives_the_uninterrupted_result(
    db_for_workers, generated_session, operator, monkeypatch, tmp_path
):
    employees = 5200  # two apply batches: 5000, then 200
    reference, victim, bystander = (
        generated_session(employees, name=name) for name in ("Reference", "Victim", "Bystander")
    )
    _upload_v2(reference, operator, employees)  # the uninterrupted run, inline
    bystander_before = (revision_rows(bystander), history_rows(bystander))
    monkeypatch.setattr(Conf, "SYNC", False)
    job = _upload_v2(victim, operator, employees)

    db_for_workers.hand_over()
    victim_before = employees_state(victim.pk, db_for_workers)
    doomed = qcluster(
        db_for_workers, tmp_path, "doomed", RECALC_TEST_APPLY_PAUSE="3", JOB_STALE_SECONDS="2"
    )
    try:
        wait_for(
            lambda: f"job {job.pk}: 5000 of 5200 revisions written" in doomed.output(),
            timeout=45,
            what="the first applied batch",
        )
        if db_for_workers.vendor == "postgresql":  # progress is visible mid-apply
            assert db_for_workers.job(job.pk)["processed"] == 5000
    finally:
        doomed.kill(signal.SIGKILL)

    # The killed apply left nothing behind.
    assert employees_state(victim.pk, db_for_workers) == victim_before
    assert history_count(victim.pk, "receipts v2 applied", db_for_workers) == 0
    wait_for(
        lambda: db_for_workers.heartbeat_older_than(job.pk, seconds=2),
        timeout=30,
        what="the killed worker's heartbeat to go stale",
    )
    recovery = watchdog(db_for_workers, tmp_path, JOB_STALE_SECONDS="2")
    assert recovery.wait(timeout=60) == 0, recovery.output()
    assert f"worker lost: [{job.pk}]; resumed: [{job.pk}]" in recovery.output()
    survivor = qcluster(db_for_workers, tmp_path, "survivor")
    try:
        wait_for(
            lambda: db_for_workers.job(job.pk)["status"] == "completed",
            timeout=45,
            what="the resumed job to complete",
        )
    finally:
        survivor.kill()
    db_for_workers.take_back()

    job.refresh_from_db()
    assert job.attempts == 2 and job.errors[0]["error"] == "worker lost"
    assert revision_rows(victim) == revision_rows(reference)
    assert history_rows(victim) == history_rows(reference)
    assert (revision_rows(bystander), history_rows(bystander)) == bystander_before
    verbs = ActivityEvent.objects.filter(session=victim, verb__startswith="job_")
    assert list(verbs.order_by("id").values_list("verb", "actor_label")) == [
        ("job_started", "olivia"),  # initial processing
        ("job_finished", "olivia"),
        ("job_started", "olivia"),  # receipts v2
        ("job_failed", "olivia"),  # worker lost
        ("job_resumed", "watchdog"),
        ("job_finished", "olivia"),
    ]


@pytest.fixture
def redis_url() -> Any:
    """A Redis database of its own (not 0 or 15), flushed before and after."""
    if connection.vendor != "postgresql":
        pytest.skip("the scale-out test runs against PostgreSQL")
    import redis

    url = os.environ.get("TEST_REDIS_URL") or os.environ.get(
        "RECALC_TEST_REDIS_URL", "redis://127.0.0.1:6379/7"
    )
    client = redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {url}")
    client.flushdb()
    yield url
    client.flushdb()


def _pid(job: RecalcJob) -> int:
    return int(job.claimed_by.rsplit(":", 1)[1]) if job.claimed_by else 0


@pytest.mark.postgres
def test_two_workers_on_redis_run_every_job_once_and_lose_none_when_one_dies(
    db_for_workers, redis_url, make_session, operator, monkeypatch, tmp_path
):
    sessions = [make_session(name=f"October 2026 #{number}") for number in range(10)]
    shared = {"REDIS_URL": redis_url, "JOB_STALE_SECONDS": "3", "Q_WORKERS": "2"}
    slow = qcluster(db_for_workers, tmp_path, "slow", RECALC_TEST_APPLY_PAUSE="4", **shared)
    fast = qcluster(db_for_workers, tmp_path, "fast", RECALC_TEST_APPLY_PAUSE="0.5", **shared)
    guard = None
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", redis_url)
    try:
        burst = [
            receipt_version_upload(
                session=session, file=fixture_file("receipts_2026_10_v2.csv"), actor=operator
            )
            for session in sessions
        ]
        jobs = RecalcJob.objects.filter(receipt_version__in=burst)

        def applying_on_the_slow_worker() -> list[int]:
            running = jobs.filter(status="running", stage=5)
            return [job.pk for job in running if slow.owns(_pid(job))]

        victims = wait_for(applying_on_the_slow_worker, timeout=45, what="a job on 'slow'")
        slow.kill(signal.SIGKILL)
        guard = watchdog(db_for_workers, tmp_path, "--loop", "1", **shared)
        wait_for(
            lambda: jobs.filter(status="completed").count() == len(sessions),
            timeout=60,
            what="every job to complete",
        )
    finally:
        for process in (slow, fast, guard):
            if process is not None:
                process.kill()

    resumed = set(
        ActivityEvent.objects.filter(verb="job_resumed", actor_label="watchdog").values_list(
            "details__job", flat=True
        )
    )
    assert set(victims) <= resumed
    for job in jobs:
        assert job.attempts == 1 + (job.pk in resumed), job
        started = ActivityEvent.objects.filter(verb="job_started", details__job=job.pk)
        assert started.count() == 1
    for session in sessions:
        assert (
            dict(
                EmployeeRevision.objects.filter(session=session).values_list(
                    "employee_id", "status"
                )
            )
            == AFTER_V2_STATUSES
        )
        applied = EmployeeRevision.history.model.objects.filter(
            session_id=session.pk, history_change_reason="receipts v2 applied"
        )
        assert applied.count() == 5  # E1001, E1003, E1004, E1005, E1006: written once
    assert re.search(r"resumed: \[\d+", guard.output()), guard.output()
