"""The recalculation job as operators live it: stages, history, preview, cancel, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import OperationalError

from audit.models import ActivityEvent, Notification
from core.errors import InvalidState, JobActive
from recalc import engine, runner
from recalc.apply import fields_not_written
from recalc.models import RecalcJob
from recalc.progress import JobMonitor
from recalc.services import (
    recalc_job_apply,
    recalc_job_cancel,
    recalc_job_discard,
    recalc_job_enqueue,
    recalc_job_run,
    session_recalculate,
)
from sessions_app.models import EmployeeRevision, ProcessingSession, ReceiptVersion
from sessions_app.selectors import receipt_lines_in_effect
from sessions_app.services import revision_resolve, session_update
from tests.recalc.conftest import card_csv, history_rows, receipts_csv, revision_rows

pytestmark = pytest.mark.django_db

V2_CHANGED = {"E1001", "E1003", "E1004", "E1005", "E1006"}


def statuses(session: ProcessingSession) -> dict[str, str]:
    return dict(
        EmployeeRevision.objects.filter(session=session).values_list("employee_id", "status")
    )


def test_it_runs_every_stage_and_reports_the_outcome(make_session):
    session = make_session()

    job = RecalcJob.objects.get(session=session)
    assert job.status == RecalcJob.Status.COMPLETED
    assert (job.stage, job.stage_name, job.completed_stage, job.progress) == (6, "finish", 6, 1.0)
    assert job.diff["counts"] == {"new": 8, "changed": 0, "removed": 0, "unchanged": 0}
    assert job.message == "Done: 8 new, 0 changed, 0 removed, 0 unchanged"
    assert job.attempts == 1 and job.claimed_by and job.heartbeat_at and job.finished_at
    assert session.status == ProcessingSession.Status.COMPLETED
    assert ReceiptVersion.objects.get(session=session).state == ReceiptVersion.State.APPLIED


def test_it_writes_history_with_the_users_name_and_the_version(make_session, upload_receipts):
    session = make_session()

    upload_receipts(session, "receipts_2026_10_v2.csv")

    history = EmployeeRevision.history.model.objects.filter(session_id=session.pk)
    first = history.filter(history_change_reason="receipts v1 applied")
    second = history.filter(history_change_reason="receipts v2 applied")
    assert first.count() == 8 and set(first.values_list("history_type", flat=True)) == {"+"}
    assert set(second.values_list("employee_id", flat=True)) == V2_CHANGED
    assert set(second.values_list("history_type", flat=True)) == {"~"}
    assert {row.history_user.username for row in history} == {"olivia"}


def test_it_records_every_field_of_the_revision_in_its_history_row(make_session, upload_receipts):
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv")

    tracked = [
        f.attname
        for f in EmployeeRevision.history.model._meta.concrete_fields
        if not f.name.startswith("history_")
    ]
    for revision in EmployeeRevision.objects.filter(session=session):
        latest = revision.history.order_by("-history_id").first()
        assert [getattr(latest, name) for name in tracked] == [
            getattr(revision, name) for name in tracked
        ]
    assert fields_not_written() == {
        "update": set(),
        "insert": set(),
        "history": set(),
        "tracked_but_not_a_revision_column": set(),
    }


def test_it_writes_only_the_employees_a_new_version_changes(make_session, upload_receipts):
    session = make_session()
    before = {rev.employee_id: rev for rev in EmployeeRevision.objects.filter(session=session)}

    upload_receipts(session, "receipts_2026_10_v2.csv")

    job = RecalcJob.objects.filter(session=session).first()
    assert job.diff["counts"] == {"new": 0, "changed": 5, "removed": 0, "unchanged": 3}
    after = {rev.employee_id: rev for rev in EmployeeRevision.objects.filter(session=session)}
    for employee_id, revision in after.items():
        changed = employee_id in V2_CHANGED
        assert revision.version == before[employee_id].version + changed
        assert revision.receipt_version_processed == (2 if changed else 1)
    e1005 = after["E1005"]
    assert (e1005.previous_receipt_amount, e1005.receipt_amount) == (
        Decimal("64.00"),
        Decimal("74.00"),
    )
    assert e1005.status == EmployeeRevision.Status.EXCESS_RECEIPTS and e1005.amount_changed


def test_it_changes_nothing_when_run_again(
    make_session, upload_receipts, operator, django_capture_on_commit_callbacks
):
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv")
    rows, history = revision_rows(session), history_rows(session)

    with django_capture_on_commit_callbacks(execute=True):
        job = session_recalculate(session=session, actor=operator)

    job.refresh_from_db()
    assert job.status == RecalcJob.Status.COMPLETED
    assert job.diff["counts"] == {"new": 0, "changed": 0, "removed": 0, "unchanged": 8}
    assert revision_rows(session) == rows
    assert history_rows(session) == history


def test_it_keeps_one_active_job_per_session(make_session, operator, hold_jobs):
    session = make_session()
    hold_jobs()
    first = session_recalculate(session=session, actor=operator)

    with pytest.raises(JobActive) as refused:
        session_recalculate(session=session, actor=operator)

    assert refused.value.http_status == 409 and refused.value.code == "job_active"
    assert refused.value.details == {"job": first.pk, "job_url": f"/api/v1/jobs/{first.pk}/"}
    assert RecalcJob.objects.filter(session=session, status="queued").count() == 1


def test_it_recalculates_when_the_tolerance_changes_and_keeps_a_fresh_resolution(
    make_session, operator, monkeypatch, django_capture_on_commit_callbacks
):
    """An operator resolves E1003 while the job runs, between its comparison and its apply:
    the apply sees the session moved and compares again instead of overwriting her."""
    session = make_session()
    e1003 = EmployeeRevision.objects.get(session=session, employee_id="E1003")
    original_stage_done = JobMonitor.stage_done

    def resolve_after_the_comparison(self, stage):
        original_stage_done(self, stage)
        if stage == 4:
            revision_resolve(
                revision=e1003, note="receipt lost, approved", expected_version=1, actor=operator
            )

    monkeypatch.setattr(JobMonitor, "stage_done", resolve_after_the_comparison)

    with django_capture_on_commit_callbacks(execute=True):
        session_update(session=session, tolerance="20.00", actor=operator)

    e1003.refresh_from_db()
    assert e1003.status == EmployeeRevision.Status.RESOLVED
    assert e1003.resolution_note == "receipt lost, approved" and e1003.version == 2
    assert statuses(session)["E1001"] == "matched"
    assert RecalcJob.objects.filter(session=session).first().status == "completed"


def test_it_previews_then_applies(
    make_session, upload_receipts, operator, django_capture_on_commit_callbacks
):
    session = make_session()
    # What pVault holds after a first delta export of the matched employees (exports app).
    for employee_id in ("E1001", "E1002", "E1005", "E1007"):
        revision = EmployeeRevision.objects.get(session=session, employee_id=employee_id)
        EmployeeRevision.objects.filter(pk=revision.pk).update(
            exported_car_amount=revision.car_amount,
            exported_receipt_amount=revision.receipt_amount,
        )
    rows = revision_rows(session)

    version = upload_receipts(session, "receipts_2026_10_v2.csv", preview=True)

    job = RecalcJob.objects.get(receipt_version=version)
    assert job.status == RecalcJob.Status.AWAITING_CONFIRMATION
    assert revision_rows(session) == rows  # nothing applied yet
    changes = {row["employee_id"]: row for row in job.diff["employees"]}
    assert set(changes) == V2_CHANGED
    assert changes["E1001"]["old_receipt_amount"] == "155.00"
    assert changes["E1001"]["new_receipt_amount"] == "155.75"
    assert changes["E1001"]["delta_receipt_amount"] == "0.75"
    assert changes["E1005"]["new_status"] == "excess_receipts"
    assert job.diff["next_delta_export"] == {
        "new": 3,
        "changed": 1,
        "total_amount": "1758.03",
        "employee_ids": ["E1001", "E1003", "E1004", "E1006"],
    }

    with django_capture_on_commit_callbacks(execute=True):
        recalc_job_apply(job=job, actor=operator)

    job.refresh_from_db()
    assert job.status == RecalcJob.Status.COMPLETED and job.attempts == 2
    assert statuses(session)["E1005"] == "excess_receipts"
    version.refresh_from_db()
    assert version.state == ReceiptVersion.State.APPLIED
    assert job.diff["next_delta_export"]["new"] == 3
    reasons = set(
        EmployeeRevision.history.model.objects.filter(
            session_id=session.pk, employee_id__in=V2_CHANGED
        ).values_list("history_change_reason", flat=True)
    )
    assert reasons == {"receipts v1 applied", "receipts v2 applied"}


def test_it_discards_a_preview_and_changes_nothing(make_session, upload_receipts, operator):
    session = make_session()
    rows, history = revision_rows(session), history_rows(session)
    version = upload_receipts(session, "receipts_2026_10_v2.csv", preview=True)
    job = RecalcJob.objects.get(receipt_version=version)

    recalc_job_discard(job=job, actor=operator)

    job.refresh_from_db()
    version.refresh_from_db()
    session.refresh_from_db()
    assert job.status == RecalcJob.Status.CANCELLED
    assert version.state == ReceiptVersion.State.DISCARDED
    assert session.status == ProcessingSession.Status.COMPLETED
    assert (revision_rows(session), history_rows(session)) == (rows, history)
    assert not receipt_lines_in_effect(session).filter(receipt_version=version).exists()
    with pytest.raises(InvalidState):
        recalc_job_apply(job=job, actor=operator)


def test_it_cancels_a_queued_job_at_once(make_session, operator, hold_jobs, upload_receipts):
    session = make_session()
    hold_jobs()
    version = upload_receipts(session, "receipts_2026_10_v2.csv")
    job = RecalcJob.objects.get(receipt_version=version)

    recalc_job_cancel(job=job, actor=operator)

    job.refresh_from_db()
    version.refresh_from_db()
    session.refresh_from_db()
    assert job.status == RecalcJob.Status.CANCELLED and job.message == "Cancelled by olivia."
    assert version.state == ReceiptVersion.State.DISCARDED
    assert session.status == ProcessingSession.Status.COMPLETED
    assert recalc_job_run(job_id=job.pk) is None  # a late delivery finds nothing to do


def test_it_cancels_between_chunks_of_the_apply_and_changes_nothing(
    make_session, upload_receipts, operator, monkeypatch, hold_jobs
):
    monkeypatch.setattr(engine, "CHUNK_SIZE", 2)
    session = make_session()
    hold_jobs()
    rows, history = revision_rows(session), history_rows(session)
    version = upload_receipts(session, "receipts_2026_10_v2.csv")
    job = RecalcJob.objects.get(receipt_version=version)
    original_advance = JobMonitor.advance
    seen = []

    def cancel_after_the_first_applied_chunk(self, processed, message=None):
        if self.stage == 5 and processed:
            seen.append(processed)
            recalc_job_cancel(job=job, actor=operator)
        original_advance(self, processed, message)

    monkeypatch.setattr(JobMonitor, "advance", cancel_after_the_first_applied_chunk)

    recalc_job_run(job_id=job.pk)

    job.refresh_from_db()
    version.refresh_from_db()
    assert seen == [2]  # stopped after one chunk of two revisions
    assert job.status == RecalcJob.Status.CANCELLED
    assert job.message == "Cancelled; nothing was changed."
    assert version.state == ReceiptVersion.State.DISCARDED
    assert (revision_rows(session), history_rows(session)) == (rows, history)


def test_it_moves_progress_and_heartbeat_chunk_by_chunk(generated_session, monkeypatch, hold_jobs):
    monkeypatch.setattr(engine, "CHUNK_SIZE", 10)
    hold_jobs()
    session = generated_session(45)
    job = RecalcJob.objects.get(session=session)
    snapshots = []

    def recorded(step):
        """The job's row as each progress write (a stage begun, a chunk done) leaves it."""

        def record(self, *args, **kwargs):
            step(self, *args, **kwargs)
            snapshots.append(
                RecalcJob.objects.values_list("stage", "processed", "total", "heartbeat_at").get(
                    pk=job.pk
                )
            )

        return record

    monkeypatch.setattr(JobMonitor, "begin", recorded(JobMonitor.begin))
    monkeypatch.setattr(JobMonitor, "advance", recorded(JobMonitor.advance))

    recalc_job_run(job_id=job.pk)

    comparing = [(processed, total) for stage, processed, total, _ in snapshots if stage == 4]
    applying = [(processed, total) for stage, processed, total, _ in snapshots if stage == 5]
    assert comparing == [(0, 45), (10, 45), (20, 45), (30, 45), (40, 45), (45, 45), (45, 45)]
    assert applying[-5:] == [(10, 45), (20, 45), (30, 45), (40, 45), (45, 45)]
    beats = [beat for *_, beat in snapshots]
    assert beats == sorted(beats)


def test_it_retries_a_transient_database_error_with_backoff(make_session, monkeypatch):
    waits = []
    monkeypatch.setattr(runner.time, "sleep", waits.append)
    original_apply = runner.revision_plan_apply
    failures = iter([OperationalError("server closed the connection unexpectedly")])

    def flaky_apply(*args, **kwargs):
        failure = next(failures, None)
        if failure:
            raise failure
        return original_apply(*args, **kwargs)

    monkeypatch.setattr(runner, "revision_plan_apply", flaky_apply)

    session = make_session()

    job = RecalcJob.objects.get(session=session)
    assert job.status == RecalcJob.Status.COMPLETED
    assert waits == [0.5]
    assert EmployeeRevision.objects.filter(session=session).count() == 8


def test_it_fails_after_repeated_transient_errors_and_says_so(make_session, monkeypatch):
    waits = []
    monkeypatch.setattr(runner.time, "sleep", waits.append)

    def always_locked(*args, **kwargs):
        raise OperationalError("could not obtain lock on row")

    monkeypatch.setattr(runner, "revision_plan_apply", always_locked)

    session = make_session()

    job = RecalcJob.objects.get(session=session)
    assert waits == [0.5, 1.0, 2.0]
    assert job.status == RecalcJob.Status.FAILED
    assert job.message == "Failed: could not obtain lock on row"
    assert job.errors == [{"stage": "apply", "error": "could not obtain lock on row"}]
    assert session.status == ProcessingSession.Status.FAILED  # never completed once
    assert not EmployeeRevision.objects.filter(session=session).exists()
    note = Notification.objects.get(user=job.created_by)
    assert note.level == Notification.Level.ERROR and "failed" in note.message


def test_it_isolates_an_employee_whose_total_overflows(
    engagement, operator, django_capture_on_commit_callbacks
):
    from sessions_app.services import session_create

    card = card_csv({"E1": "10.00", "E2": "20.00"})
    card = type(card)(
        "card.csv",
        card.read()
        + b"E9,Name E9,2026-10-02,JET,600000000000.00\nE9,Name E9,2026-10-03,JET,600000000000.00\n",
    )
    with django_capture_on_commit_callbacks(execute=True):
        session = session_create(
            engagement=engagement,
            name="Overflow",
            period_start="2026-10-01",
            period_end="2026-10-31",
            card_file=card,
            receipts_file=receipts_csv({"E1": "10.00", "E2": "20.00"}),
            actor=operator,
        )

    job = RecalcJob.objects.get(session=session)
    assert job.status == RecalcJob.Status.COMPLETED
    assert statuses(session) == {"E1": "matched", "E2": "matched"}
    assert len(job.errors) == 1 and job.errors[0]["employee_id"] == "E9"
    assert "card total 1,200,000,000,000.00 is beyond the largest amount" in job.errors[0]["error"]
    assert "1 employee(s) could not be recalculated" in job.message
    assert Notification.objects.get(user=operator).level == Notification.Level.ERROR


def test_it_notifies_and_emails_whoever_started_the_job(make_session, mailoutbox, operator):
    session = make_session()

    note = Notification.objects.get(user=operator)
    assert note.level == Notification.Level.SUCCESS
    assert note.message.startswith("Session 'October 2026': recalculation completed. Done: 8 new")
    assert note.link == f"/sessions/{session.pk}/"
    assert [mail.to for mail in mailoutbox] == [[operator.email]]
    assert mailoutbox[0].subject == "[Closebook] October 2026: recalculation completed"


def test_it_records_the_job_in_the_audit_trail(make_session, upload_receipts):
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv")

    verbs = list(
        ActivityEvent.objects.filter(session=session, verb__startswith="job_")
        .order_by("id")
        .values_list("verb", "actor_label")
    )
    assert verbs == [("job_started", "olivia"), ("job_finished", "olivia")] * 2


def test_it_claims_a_job_once_however_often_it_is_delivered(make_session, hold_jobs):
    hold_jobs()
    session = make_session()
    job = RecalcJob.objects.get(session=session)

    first, second = recalc_job_run(job_id=job.pk), recalc_job_run(job_id=job.pk)

    assert first.status == RecalcJob.Status.COMPLETED and second is None
    assert RecalcJob.objects.get(pk=job.pk).attempts == 1
    assert ActivityEvent.objects.filter(session=session, verb="job_started").count() == 1


def test_it_runs_in_the_same_number_of_queries_for_20_or_400_employees(
    generated_session, hold_jobs, django_assert_max_num_queries
):
    hold_jobs()
    small, large = generated_session(20, name="Small"), generated_session(400, name="Large")
    counts = []

    for session in (small, large):
        job = RecalcJob.objects.get(session=session)
        # Line matching adds a fixed number of statements (on PostgreSQL a few SET LOCAL
        # around its whole-session joins, and the switch to the new generation); none
        # grows with the employees.
        with django_assert_max_num_queries(87) as captured:
            recalc_job_run(job_id=job.pk)
        counts.append(len(captured))

    assert counts[0] == counts[1]
    assert EmployeeRevision.objects.filter(session=large).count() == 400


def test_it_configures_django_q2_so_a_running_job_is_never_delivered_twice():
    cluster = settings.Q_CLUSTER
    assert cluster["retry"] > cluster["timeout"]
    assert cluster["max_attempts"] == 1 and cluster["ack_failures"] is True


def test_it_refuses_to_enqueue_for_a_closed_session(make_session, operator):
    from core.errors import SessionClosed
    from sessions_app.services import session_close

    session = session_close(
        session=make_session(), reason="period closed", actor=operator, close_anyway=True
    )

    with pytest.raises(SessionClosed):
        recalc_job_enqueue(session=session, kind=RecalcJob.Kind.MANUAL, actor=operator)
