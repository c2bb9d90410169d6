"""Recalculation jobs: enqueue, run stage by stage, cancel, resume, apply or discard a preview.

Progress is written outside the apply transaction so other connections see it while the
job runs; the apply itself is one transaction, so a cancelled or crashed job changes
nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from audit.models import ActivityEvent, Notification
from audit.services import activity_event_record, notification_send
from recalc.engine import (
    RevisionPlan,
    next_delta_export,
    revision_plan,
    revision_plan_apply,
    session_results_compute,
)
from recalc.models import ACTIVE_JOB_STATUSES, RecalcJob
from sessions_app.errors import InvalidState, JobActive, SessionClosed
from sessions_app.models import CardTransaction, ProcessingSession, ReceiptVersion
from sessions_app.selectors import active_job_for

logger = logging.getLogger(__name__)

STAGES = {
    1: "parse & validate",
    2: "store lines",
    3: "aggregate per employee",
    4: "compare & classify",
    5: "apply",
    6: "finish",
}
APPLY_STAGE = 5
TRANSIENT_RETRIES = 3
DIFF_ROWS_KEPT = 5000
T = TypeVar("T")


class JobCancelled(Exception):
    """Raised between stages when someone asked the job to stop."""


# --- Enqueue ------------------------------------------------------------------------------------


def recalc_job_enqueue(
    *,
    session: ProcessingSession,
    kind: str,
    actor: Any,
    receipt_version: ReceiptVersion | None = None,
    preview: bool = False,
) -> RecalcJob:
    """Create the session's one active job and hand it to a worker once committed.
    The database constraint, not a check, guarantees one active job per session."""
    if session.is_closed:
        raise SessionClosed(f"Session '{session.name}' is closed.")
    try:
        with transaction.atomic():
            job = RecalcJob.objects.create(
                session=session,
                kind=kind,
                receipt_version=receipt_version,
                preview=preview,
                created_by=actor if actor is not None and actor.is_authenticated else None,
                message="Waiting for a worker",
            )
    except IntegrityError:
        raise _job_active_error(session) from None
    moving_to = (
        ProcessingSession.Status.PROCESSING
        if kind == RecalcJob.Kind.INITIAL
        else ProcessingSession.Status.REPROCESSING
    )
    ProcessingSession.objects.filter(pk=session.pk).update(status=moving_to)
    session.status = moving_to
    transaction.on_commit(lambda: recalc_job_dispatch(job_id=job.pk))
    return job


def _job_active_error(session: ProcessingSession) -> JobActive:
    active = active_job_for(session)
    job_id = active.pk if active else None
    return JobActive(
        f"Session '{session.name}' already has a job in progress (job {job_id}); "
        "wait for it to finish or cancel it.",
        details={"job": job_id, "job_url": f"/api/v1/jobs/{job_id}/" if job_id else None},
    )


def recalc_job_dispatch(*, job_id: int) -> None:
    """Hand the job to django-q2 (run inline when Q_CLUSTER['sync'] is on, as in tests)."""
    from django_q.tasks import async_task

    task_id = async_task(
        "recalc.tasks.recalc_job_task", job_id, task_name=f"recalc-job-{job_id}", group="recalc"
    )
    RecalcJob.objects.filter(pk=job_id).update(task_id=str(task_id or "")[:64])


def session_recalculate(*, session: ProcessingSession, actor: Any) -> RecalcJob:
    """An explicit 'recalculate' from a page, the API or an admin action."""
    with transaction.atomic():
        job = recalc_job_enqueue(session=session, kind=RecalcJob.Kind.MANUAL, actor=actor)
        activity_event_record(
            verb=ActivityEvent.Verb.SESSION_RECALCULATED,
            message=f"Recalculation of '{session.name}' requested (job {job.pk})",
            actor=actor,
            session=session,
            details={"job": job.pk},
        )
    return job


# --- Running --------------------------------------------------------------------------------------


def _progress(
    job: RecalcJob, *, stage: int, message: str, processed: int = 0, total: int = 0
) -> None:
    """Written in its own short transaction, so a second connection sees it at once."""
    job.stage, job.stage_name, job.message = stage, STAGES[stage], message[:500]
    job.processed, job.total = processed, total
    job.progress = round(((stage - 1) + (processed / total if total else 0)) / len(STAGES), 4)
    job.heartbeat_at = timezone.now()
    RecalcJob.objects.filter(pk=job.pk).update(
        stage=job.stage,
        stage_name=job.stage_name,
        message=job.message,
        processed=processed,
        total=total,
        progress=job.progress,
        heartbeat_at=job.heartbeat_at,
    )


def _stage_done(job: RecalcJob, stage: int) -> None:
    job.completed_stage = stage
    RecalcJob.objects.filter(pk=job.pk).update(completed_stage=stage, heartbeat_at=timezone.now())
    if RecalcJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
        raise JobCancelled


def _with_retries(operation: Callable[[], T]) -> T:
    """Transient database errors (a lock timeout, a dropped connection) are retried with
    backoff; anything else fails the job."""
    for attempt in range(1, TRANSIENT_RETRIES + 1):
        try:
            return operation()
        except OperationalError:
            if attempt == TRANSIENT_RETRIES:
                raise
            logger.warning("transient database error, retry %s", attempt, exc_info=True)
            time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


def _claim(job_id: int) -> RecalcJob | None:
    """Take a queued job; only one worker wins, even if a task is delivered twice."""
    now = timezone.now()
    claimed = RecalcJob.objects.filter(pk=job_id, status=RecalcJob.Status.QUEUED).update(
        status=RecalcJob.Status.RUNNING, heartbeat_at=now, started_at=now
    )
    if not claimed:
        return None
    job = RecalcJob.objects.select_related("session", "receipt_version", "created_by").get(
        pk=job_id
    )
    RecalcJob.objects.filter(pk=job_id).update(attempts=job.attempts + 1)
    return job


def recalc_job_run(*, job_id: int) -> RecalcJob | None:
    """Run a queued job from the stage after its last completed one."""
    job = _claim(job_id)
    if job is None:
        return None
    if job.completed_stage == 0:
        activity_event_record(
            verb=ActivityEvent.Verb.JOB_STARTED,
            message=f"Job {job.pk} started: {job.get_kind_display().lower()}",
            actor=job.created_by,
            session=job.session,
            details={"job": job.pk, "kind": job.kind},
        )
    try:
        _run_stages(job)
    except JobCancelled:
        _job_end(job, status=RecalcJob.Status.CANCELLED, message="Cancelled; nothing was changed.")
    except Exception as exc:
        logger.exception("recalc job %s failed", job.pk)
        _job_end(
            job,
            status=RecalcJob.Status.FAILED,
            message=f"Failed: {exc}"[:500],
            errors=[{"stage": job.stage_name, "error": str(exc)[:1000]}],
        )
    job.refresh_from_db()
    return job


def _run_stages(job: RecalcJob) -> None:
    session = job.session
    if job.completed_stage < 2:
        _stage_validate(job)
    if job.completed_stage < 4:
        results = _stage_compute(job)
        plan = _with_retries(
            lambda: revision_plan(session, results, processed_version=_processed(job))
        )
        _stage_compare(job, plan)
        if job.preview:
            _await_confirmation(job, plan)
            return
    if job.completed_stage < APPLY_STAGE:
        _stage_apply(job)
    _stage_finish(job)


def _processed(job: RecalcJob) -> int | None:
    if job.receipt_version is not None:
        return job.receipt_version.version
    return (
        ReceiptVersion.objects.filter(session=job.session, state=ReceiptVersion.State.APPLIED)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )


def _stage_validate(job: RecalcJob) -> None:
    # Files are parsed and validated at upload (a bad file never gets this far); here the
    # stored lines are counted against what the upload said.
    card_lines = CardTransaction.objects.filter(session=job.session).count()
    _progress(job, stage=1, message=f"{card_lines} card lines validated at upload")
    _stage_done(job, 1)
    receipt_lines = job.receipt_version.lines.count() if job.receipt_version else 0
    _progress(
        job,
        stage=2,
        message=f"{card_lines} card lines and {receipt_lines} receipt lines stored",
        processed=card_lines + receipt_lines,
        total=card_lines + receipt_lines,
    )
    _stage_done(job, 2)


def _stage_compute(job: RecalcJob) -> list[Any]:
    _progress(job, stage=3, message="Adding up card and receipt lines per employee")
    results = _with_retries(
        lambda: session_results_compute(job.session, receipt_version=job.receipt_version)
    )
    _progress(
        job,
        stage=3,
        message=f"{len(results)} employees",
        processed=len(results),
        total=len(results),
    )
    _stage_done(job, 3)
    return results


def _stage_compare(job: RecalcJob, plan: RevisionPlan) -> None:
    counts = plan.counts()
    job.diff = {"counts": counts, "employees": plan.diff[:DIFF_ROWS_KEPT]}
    RecalcJob.objects.filter(pk=job.pk).update(diff=job.diff)
    _progress(
        job,
        stage=4,
        message="{new} new, {changed} changed, {removed} removed, {unchanged} unchanged".format(
            **counts
        ),
    )
    _stage_done(job, 4)


def _await_confirmation(job: RecalcJob, plan: RevisionPlan) -> None:
    job.diff["next_delta_export"] = next_delta_export(plan)
    RecalcJob.objects.filter(pk=job.pk).update(
        status=RecalcJob.Status.AWAITING_CONFIRMATION,
        diff=job.diff,
        message="Preview ready: apply or discard",
    )


def _change_reason(job: RecalcJob) -> str:
    if job.receipt_version is not None:
        if job.kind == RecalcJob.Kind.ROLLBACK:
            return f"receipts v{job.receipt_version.version} applied ({job.receipt_version.note})"[
                :100
            ]
        return f"receipts v{job.receipt_version.version} applied"
    return f"{job.get_kind_display().lower()} (job {job.pk})"


def _stage_apply(job: RecalcJob) -> None:
    _progress(job, stage=APPLY_STAGE, message="Writing the results")

    def apply() -> None:
        with transaction.atomic():
            session = ProcessingSession.objects.select_for_update().get(pk=job.session_id)
            if RecalcJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
                raise JobCancelled
            results = session_results_compute(session, receipt_version=job.receipt_version)
            plan = revision_plan(session, results, processed_version=_processed(job))
            revision_plan_apply(plan, actor=job.created_by, change_reason=_change_reason(job))
            if job.receipt_version is not None:
                ReceiptVersion.objects.filter(pk=job.receipt_version_id).update(
                    state=ReceiptVersion.State.APPLIED
                )
            if session.status != ProcessingSession.Status.CLOSED:
                ProcessingSession.objects.filter(pk=session.pk).update(
                    status=ProcessingSession.Status.COMPLETED
                )
            RecalcJob.objects.filter(pk=job.pk).update(completed_stage=APPLY_STAGE)

    _with_retries(apply)
    job.completed_stage = APPLY_STAGE


def _stage_finish(job: RecalcJob) -> None:
    counts = job.diff.get("counts", {}) if isinstance(job.diff, dict) else {}
    summary = ", ".join(f"{value} {name}" for name, value in counts.items())
    _job_end(
        job, status=RecalcJob.Status.COMPLETED, message=f"Done: {summary}" if summary else "Done"
    )


def _job_end(job: RecalcJob, *, status: str, message: str, errors: list[Any] | None = None) -> None:
    now = timezone.now()
    with transaction.atomic():
        fields: dict[str, Any] = {"status": status, "message": message, "finished_at": now}
        if status == RecalcJob.Status.COMPLETED:
            fields.update(stage=6, stage_name=STAGES[6], progress=1.0, completed_stage=6)
        if errors:
            fields["errors"] = list(job.errors or []) + errors
        RecalcJob.objects.filter(pk=job.pk).update(**fields)
        if status != RecalcJob.Status.COMPLETED:
            _session_after_unapplied_job(job, status)
        verb = {
            RecalcJob.Status.COMPLETED: ActivityEvent.Verb.JOB_FINISHED,
            RecalcJob.Status.FAILED: ActivityEvent.Verb.JOB_FAILED,
            RecalcJob.Status.CANCELLED: ActivityEvent.Verb.JOB_CANCELLED,
        }[status]
        activity_event_record(
            verb=verb,
            message=f"Job {job.pk} {status}: {message}",
            actor=job.created_by,
            session=job.session,
            details={"job": job.pk, "kind": job.kind, "errors": errors or []},
        )
        _notify(job, status, message)


def _session_after_unapplied_job(job: RecalcJob, status: str) -> None:
    """A job that did not apply leaves the session as it was before it."""
    if job.receipt_version_id and status == RecalcJob.Status.CANCELLED:
        ReceiptVersion.objects.filter(
            pk=job.receipt_version_id, state=ReceiptVersion.State.PENDING
        ).update(state=ReceiptVersion.State.DISCARDED)
    session = ProcessingSession.objects.get(pk=job.session_id)
    if session.is_closed:
        return
    ever_completed = job.kind != RecalcJob.Kind.INITIAL or session.revisions.exists()
    new_status = (
        ProcessingSession.Status.COMPLETED if ever_completed else ProcessingSession.Status.FAILED
    )
    ProcessingSession.objects.filter(pk=session.pk).update(status=new_status)


def _notify(job: RecalcJob, status: str, message: str) -> None:
    if job.created_by is None:
        return
    level = {
        RecalcJob.Status.COMPLETED: Notification.Level.SUCCESS,
        RecalcJob.Status.FAILED: Notification.Level.ERROR,
    }.get(status, Notification.Level.INFO)
    text = f"Session '{job.session.name}': recalculation {status}. {message}"
    notification_send(
        user=job.created_by, message=text, link=f"/sessions/{job.session_id}/", level=level
    )
    if job.created_by.email:
        from recalc.notifications import job_end_email_send

        transaction.on_commit(lambda: job_end_email_send(job_id=job.pk))


# --- Operator actions -----------------------------------------------------------------------------


def recalc_job_cancel(*, job: RecalcJob, actor: Any) -> RecalcJob:
    """A queued job stops at once; a running one at its next stage boundary; a preview
    waiting for confirmation is discarded."""
    if job.status == RecalcJob.Status.AWAITING_CONFIRMATION:
        return recalc_job_discard(job=job, actor=actor)
    with transaction.atomic():
        job = RecalcJob.objects.select_for_update().get(pk=job.pk)
        if job.status not in ACTIVE_JOB_STATUSES:
            raise InvalidState(f"Job {job.pk} is {job.status}; there is nothing to cancel.")
        if job.status == RecalcJob.Status.QUEUED:
            _job_end(job, status=RecalcJob.Status.CANCELLED, message=f"Cancelled by {_who(actor)}.")
        else:
            RecalcJob.objects.filter(pk=job.pk).update(
                cancel_requested=True, message=f"Cancel requested by {_who(actor)}"
            )
    job.refresh_from_db()
    return job


def recalc_job_discard(*, job: RecalcJob, actor: Any) -> RecalcJob:
    with transaction.atomic():
        job = RecalcJob.objects.select_for_update().get(pk=job.pk)
        if job.status != RecalcJob.Status.AWAITING_CONFIRMATION:
            raise InvalidState(
                f"Job {job.pk} is {job.status}, not a preview awaiting confirmation."
            )
        if job.receipt_version_id:
            ReceiptVersion.objects.filter(pk=job.receipt_version_id).update(
                state=ReceiptVersion.State.DISCARDED
            )
        RecalcJob.objects.filter(pk=job.pk).update(
            status=RecalcJob.Status.CANCELLED,
            finished_at=timezone.now(),
            message=f"Preview discarded by {_who(actor)}; nothing was changed.",
        )
        _session_after_unapplied_job(job, RecalcJob.Status.CANCELLED)
        activity_event_record(
            verb=ActivityEvent.Verb.JOB_DISCARDED,
            message=f"Preview job {job.pk} discarded",
            actor=actor,
            session=job.session,
            details={"job": job.pk},
        )
    job.refresh_from_db()
    return job


def recalc_job_apply(*, job: RecalcJob, actor: Any) -> RecalcJob:
    """Confirm a preview: the job goes back to the queue and resumes at the apply stage."""
    with transaction.atomic():
        job = RecalcJob.objects.select_for_update().get(pk=job.pk)
        if job.status != RecalcJob.Status.AWAITING_CONFIRMATION:
            raise InvalidState(
                f"Job {job.pk} is {job.status}, not a preview awaiting confirmation."
            )
        RecalcJob.objects.filter(pk=job.pk).update(
            status=RecalcJob.Status.QUEUED,
            preview=False,
            stage=APPLY_STAGE,
            completed_stage=4,
            message=f"Applying, confirmed by {_who(actor)}",
        )
        transaction.on_commit(lambda: recalc_job_dispatch(job_id=job.pk))
    job.refresh_from_db()
    return job


def recalc_job_resume(*, job: RecalcJob, actor: Any) -> RecalcJob:
    """Requeue a failed job; it resumes after its last completed stage."""
    with transaction.atomic():
        job = RecalcJob.objects.select_for_update().get(pk=job.pk)
        if job.status != RecalcJob.Status.FAILED:
            raise InvalidState(f"Job {job.pk} is {job.status}; only a failed job can be resumed.")
        session = ProcessingSession.objects.select_for_update().get(pk=job.session_id)
        if session.is_closed:
            raise SessionClosed(f"Session '{session.name}' is closed.")
        try:
            with transaction.atomic():
                RecalcJob.objects.filter(pk=job.pk).update(
                    status=RecalcJob.Status.QUEUED,
                    cancel_requested=False,
                    finished_at=None,
                    message=f"Resumed by {_who(actor)}",
                )
        except IntegrityError:
            raise _job_active_error(session) from None
        moving_to = (
            ProcessingSession.Status.PROCESSING
            if job.kind == RecalcJob.Kind.INITIAL
            else ProcessingSession.Status.REPROCESSING
        )
        ProcessingSession.objects.filter(pk=session.pk).update(status=moving_to)
        activity_event_record(
            verb=ActivityEvent.Verb.JOB_RESUMED,
            message=f"Job {job.pk} resumed after stage {job.completed_stage}",
            actor=actor,
            session=session,
            details={"job": job.pk, "completed_stage": job.completed_stage},
        )
        transaction.on_commit(lambda: recalc_job_dispatch(job_id=job.pk))
    job.refresh_from_db()
    return job


def recalc_jobs_fail_stale(*, older_than: timedelta | None = None) -> list[int]:
    """Mark running jobs whose worker stopped sending heartbeats as failed ('worker lost'),
    so they can be resumed."""
    limit = older_than or timedelta(seconds=settings.JOB_STALE_SECONDS)
    cutoff = timezone.now() - limit
    stale = list(
        RecalcJob.objects.filter(
            status=RecalcJob.Status.RUNNING, heartbeat_at__lt=cutoff
        ).select_related("session", "created_by")
    )
    failed = []
    for job in stale:
        with transaction.atomic():
            taken = RecalcJob.objects.filter(
                pk=job.pk, status=RecalcJob.Status.RUNNING, heartbeat_at__lt=cutoff
            ).exists()
            if taken:
                _job_end(
                    job,
                    status=RecalcJob.Status.FAILED,
                    message="Worker lost: no heartbeat; resume the job to continue.",
                    errors=[{"stage": job.stage_name, "error": "worker lost"}],
                )
                failed.append(job.pk)
    return failed


def _who(actor: Any) -> str:
    return actor.get_username() if actor is not None and actor.is_authenticated else "system"
