"""Recalculation jobs: enqueue, run (recalc.runner has the stages), cancel, resume, apply or
discard a preview, and recover jobs whose worker died.

A job is handed to django-q2 when the transaction that created it commits. Whatever the
broker does (the ORM broker re-delivers a task after `retry` seconds, Redis loses the task a
dead worker held), a job runs at most once at a time: `_claim` takes it with one conditional
UPDATE, and every later write of the attempt is fenced by its attempt number."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import InvalidState, JobActive, SessionClosed
from core.history import actor_or_none
from matching.preview import pairs_preview
from recalc.endings import job_end, job_locked, session_after_unapplied_job
from recalc.engine import RevisionPlan, effective_receipt_version_ids
from recalc.models import RecalcJob
from recalc.progress import (
    APPLY_STAGE,
    STAGES,
    JobCancelled,
    JobLost,
    JobMonitor,
)
from recalc.runner import StagesOutcome, stages_run
from recalc.selectors import active_job_for
from recalc.tables import scratch_tables_drop
from sessions_app.lifecycle import session_status_set
from sessions_app.models import ProcessingSession, ReceiptVersion

logger = logging.getLogger(__name__)

# A job the watchdog found without a worker is resumed automatically this many times in all;
# past that it stays failed for a person to look at (a job that kills its worker every time
# must not loop forever).
AUTO_RESUME_ATTEMPTS = 3
WORKER_LOST = "worker_lost"
RECENT_FAILURES = timedelta(days=1)

__all__ = [
    "APPLY_STAGE",
    "STAGES",
    "JobCancelled",
    "recalc_job_apply",
    "recalc_job_cancel",
    "recalc_job_discard",
    "recalc_job_dispatch",
    "recalc_job_enqueue",
    "recalc_job_resume",
    "recalc_job_run",
    "recalc_jobs_fail_stale",
    "recalc_jobs_recover",
    "session_recalculate",
]


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
                created_by=actor_or_none(actor),
                message="Waiting for a worker",
            )
    except IntegrityError:
        raise _job_active_error(session) from None
    _session_status_for_job(session, job, actor)
    transaction.on_commit(lambda: recalc_job_dispatch(job_id=job.pk))
    return job


def _session_status_for_job(session: ProcessingSession, job: RecalcJob, actor: Any) -> None:
    """The session's lifecycle move, with its history row (sessions_app records those)."""
    moving_to = (
        ProcessingSession.Status.PROCESSING
        if job.kind == RecalcJob.Kind.INITIAL
        else ProcessingSession.Status.REPROCESSING
    )
    session_status_set(
        session_id=session.pk,
        status=moving_to,
        actor=actor,
        reason=f"job {job.pk}: {job.get_kind_display().lower()}",
    )
    session.status = moving_to


def _job_active_error(session: ProcessingSession) -> JobActive:
    active = active_job_for(session)
    job_id = active.pk if active else None
    return JobActive(
        f"Session '{session.name}' already has a job in progress (job {job_id}); "
        "wait for it to finish or cancel it.",
        details={"job": job_id, "job_url": f"/api/v1/jobs/{job_id}/" if job_id else None},
    )


def recalc_job_dispatch(*, job_id: int) -> None:
    """Hand the job to django-q2 (run inline when Q_CLUSTER['sync'] is on, as in tests).
    Handing it twice is harmless: only one delivery can claim it."""
    from django_q.tasks import async_task

    RecalcJob.objects.filter(pk=job_id).update(dispatched_at=timezone.now())
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


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _claim(job_id: int) -> RecalcJob | None:
    """Take a queued job with one conditional UPDATE: of two deliveries of the same task
    (or two workers), exactly one wins; the attempt number it gets fences its writes."""
    now = timezone.now()
    claimed = RecalcJob.objects.filter(pk=job_id, status=RecalcJob.Status.QUEUED).update(
        status=RecalcJob.Status.RUNNING,
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
        claimed_by=_worker_name(),
    )
    if not claimed:
        return None
    return RecalcJob.objects.select_related(
        "session__engagement", "receipt_version", "created_by"
    ).get(pk=job_id)


def recalc_job_run(*, job_id: int) -> RecalcJob | None:
    """Run a queued job from the stage after its last completed one. None when the job was
    not there to take (already taken, cancelled or finished)."""
    job = _claim(job_id)
    if job is None:
        return None
    monitor = JobMonitor(
        job_id=job.pk,
        attempt=job.attempts,
        # Progress beside the apply transaction needs the job row committed, i.e. a run that
        # is not itself nested in someone's transaction (tests run jobs inside theirs).
        side_connection_allowed=connection.vendor == "postgresql"
        and not connection.in_atomic_block,
    )
    if job.attempts == 1:
        activity_event_record(
            verb=ActivityEvent.Verb.JOB_STARTED,
            message=f"Job {job.pk} started: {job.get_kind_display().lower()}",
            actor=job.created_by,
            session=job.session,
            details={"job": job.pk, "kind": job.kind, "worker": job.claimed_by},
        )
    try:
        _job_conclude(job, monitor, stages_run(job, monitor))
    except JobCancelled:
        job_end(
            job,
            status=RecalcJob.Status.CANCELLED,
            message="Cancelled; nothing was changed.",
            attempt=monitor.attempt,
        )
    except JobLost:
        logger.warning("job %s: attempt %s lost the job; stopping", job.pk, monitor.attempt)
    except Exception as exc:
        logger.exception("recalc job %s failed", job.pk)
        job_end(
            job,
            status=RecalcJob.Status.FAILED,
            message=f"Failed: {exc}"[:500],
            errors=[{"stage": STAGES.get(monitor.stage, ""), "error": str(exc)[:1000]}],
            attempt=monitor.attempt,
        )
    finally:
        _scratch_tables_release()
    job.refresh_from_db()
    return job


def _scratch_tables_release() -> None:
    # Worker connections are reused across tasks (CONN_MAX_AGE): nothing may stay behind.
    if connection.connection is None or connection.needs_rollback:
        return
    try:
        scratch_tables_drop(connection)
    except Exception:  # a broken connection takes its temporary tables with it
        logger.debug("scratch tables not dropped", exc_info=True)


def _pairs_preview(job: RecalcJob, plan: RevisionPlan) -> list[dict[str, Any]]:
    """SPEC §14: the pairs the previewed receipts would change, for the employees listed."""
    return pairs_preview(
        job.session,
        version_ids=effective_receipt_version_ids(job.session, job.receipt_version),
        employee_ids=[row["employee_id"] for row in plan.diff],
    )


def _job_conclude(job: RecalcJob, monitor: JobMonitor, outcome: StagesOutcome) -> None:
    plan = outcome.plan
    if outcome.awaiting_confirmation:
        assert plan is not None
        job.diff = {
            **plan.summary(),
            "next_delta_export": plan.next_delta,
            "pairs": _pairs_preview(job, plan),
        }
        monitor.begin(4, "Preview ready: apply or discard", total=plan.employees)
        RecalcJob.objects.filter(pk=job.pk, attempts=monitor.attempt).update(
            status=RecalcJob.Status.AWAITING_CONFIRMATION, diff=job.diff, progress=4 / 6
        )
        return
    summary = job.diff if isinstance(job.diff, dict) else {}
    counts = summary.get("counts", {})
    message = "Done: " + ", ".join(f"{value} {name}" for name, value in counts.items())
    errors = []
    if plan is not None and plan.problem_count:
        message += f"; {plan.problem_count} employee(s) could not be recalculated (see errors)"
        errors = [{"stage": STAGES[4], **problem} for problem in plan.problems]
        if plan.problem_count > len(plan.problems):
            errors.append({"stage": STAGES[4], "error": f"{plan.problem_count} in all"})
    job_end(
        job,
        status=RecalcJob.Status.COMPLETED,
        message=message if counts else "Done",
        errors=errors,
        attempt=monitor.attempt,
    )


# --- Operator actions -----------------------------------------------------------------------------


def recalc_job_cancel(*, job: RecalcJob, actor: Any) -> RecalcJob:
    """A queued job stops at once; a running one at its next chunk (its apply rolls back);
    a preview waiting for confirmation is discarded."""
    if job.status == RecalcJob.Status.AWAITING_CONFIRMATION:
        return recalc_job_discard(job=job, actor=actor)
    # A running job is only flagged: no lock that an apply in progress holds is waited for.
    flagged = RecalcJob.objects.filter(pk=job.pk, status=RecalcJob.Status.RUNNING).update(
        cancel_requested=True, message=f"Cancel requested by {_who(actor)}"
    )
    if not flagged:
        with transaction.atomic():
            job = job_locked(job)
            if job.status == RecalcJob.Status.QUEUED:
                job_end(
                    job, status=RecalcJob.Status.CANCELLED, message=f"Cancelled by {_who(actor)}."
                )
            elif job.status == RecalcJob.Status.RUNNING:
                RecalcJob.objects.filter(pk=job.pk).update(cancel_requested=True)
            else:
                raise InvalidState(f"Job {job.pk} is {job.status}; there is nothing to cancel.")
    job.refresh_from_db()
    return job


def recalc_job_discard(*, job: RecalcJob, actor: Any) -> RecalcJob:
    with transaction.atomic():
        job = job_locked(job)
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
        session_after_unapplied_job(job, RecalcJob.Status.CANCELLED)
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
    """Confirm a preview: the job goes back to the queue and resumes at the apply stage,
    which compares again inside its transaction (the session may have moved since)."""
    with transaction.atomic():
        job = job_locked(job)
        if job.status != RecalcJob.Status.AWAITING_CONFIRMATION:
            raise InvalidState(
                f"Job {job.pk} is {job.status}, not a preview awaiting confirmation."
            )
        RecalcJob.objects.filter(pk=job.pk).update(
            status=RecalcJob.Status.QUEUED,
            preview=False,
            stage=APPLY_STAGE,
            stage_name=STAGES[APPLY_STAGE],
            completed_stage=4,
            message=f"Applying, confirmed by {_who(actor)}",
        )
        activity_event_record(
            verb=ActivityEvent.Verb.JOB_RESUMED,
            message=f"Preview job {job.pk} confirmed by {_who(actor)}; applying",
            actor=actor,
            session=job.session,
            details={"job": job.pk, "confirmed": True},
        )
        transaction.on_commit(lambda: recalc_job_dispatch(job_id=job.pk))
    job.refresh_from_db()
    return job


def recalc_job_resume(*, job: RecalcJob, actor: Any, actor_label: str = "") -> RecalcJob:
    """Requeue a failed job; it resumes after its last completed stage."""
    with transaction.atomic():
        job = job_locked(job)
        if job.status != RecalcJob.Status.FAILED:
            raise InvalidState(f"Job {job.pk} is {job.status}; only a failed job can be resumed.")
        session = job.session
        if session.is_closed:
            raise SessionClosed(f"Session '{session.name}' is closed.")
        try:
            with transaction.atomic():
                RecalcJob.objects.filter(pk=job.pk).update(
                    status=RecalcJob.Status.QUEUED,
                    cancel_requested=False,
                    finished_at=None,
                    message=f"Resumed by {actor_label or _who(actor)}",
                )
        except IntegrityError:
            raise _job_active_error(session) from None
        _session_status_for_job(session, job, actor)
        activity_event_record(
            verb=ActivityEvent.Verb.JOB_RESUMED,
            message=f"Job {job.pk} resumed after stage {job.completed_stage}",
            actor=actor,
            session=session,
            details={"job": job.pk, "completed_stage": job.completed_stage},
            actor_label=actor_label,
        )
        transaction.on_commit(lambda: recalc_job_dispatch(job_id=job.pk))
    job.refresh_from_db()
    return job


# --- The watchdog ---------------------------------------------------------------------------------


def _stale_limit(older_than: timedelta | None) -> timedelta:
    return older_than or timedelta(seconds=settings.JOB_STALE_SECONDS)


def recalc_jobs_fail_stale(*, older_than: timedelta | None = None) -> list[int]:
    """Mark running jobs whose worker stopped sending heartbeats as failed ('worker lost'),
    so they can be resumed. The update is conditional: a job whose heartbeat moved in the
    meantime, or that another watchdog got first, is left alone."""
    cutoff = timezone.now() - _stale_limit(older_than)
    stale = RecalcJob.objects.filter(
        status=RecalcJob.Status.RUNNING, heartbeat_at__lt=cutoff
    ).select_related("session__engagement", "created_by")
    failed = []
    for job in stale:
        lost = job_end(
            job,
            status=RecalcJob.Status.FAILED,
            message="Worker lost: no heartbeat; the job can be resumed.",
            errors=[{"stage": job.stage_name, "error": "worker lost", "code": WORKER_LOST}],
            only_if=Q(status=RecalcJob.Status.RUNNING, heartbeat_at__lt=cutoff),
            # Only a job that will not be resumed automatically has really ended.
            notify=job.attempts >= AUTO_RESUME_ATTEMPTS,
        )
        if lost:
            logger.warning("job %s: worker %s lost", job.pk, job.claimed_by)
            failed.append(job.pk)
    return failed


@dataclass
class Recovery:
    failed: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    redispatched: list[int] = field(default_factory=list)


def recalc_jobs_recover(*, older_than: timedelta | None = None) -> Recovery:
    """What the watchdog does every minute: fail running jobs without a heartbeat, resume
    the ones that lost their worker, and hand again to the broker the jobs that stayed queued
    too long (a Redis broker loses what a dead worker had prefetched). Safe to run on several
    machines at once: every step is conditional or claims with a row lock."""
    limit = _stale_limit(older_than)
    recovery = Recovery(failed=recalc_jobs_fail_stale(older_than=limit))
    recovery.resumed = _resume_lost_jobs()
    recovery.redispatched = _redispatch_forgotten(timezone.now() - limit)
    return recovery


def _resume_lost_jobs() -> list[int]:
    candidates = RecalcJob.objects.filter(
        status=RecalcJob.Status.FAILED,
        attempts__lt=AUTO_RESUME_ATTEMPTS,
        finished_at__gte=timezone.now() - RECENT_FAILURES,
    )
    resumed = []
    for job in candidates:
        last_error = job.errors[-1] if job.errors else {}
        if not isinstance(last_error, dict) or last_error.get("code") != WORKER_LOST:
            continue
        if RecalcJob.objects.filter(session_id=job.session_id, created_at__gt=job.created_at):
            continue  # the session moved on with a newer job
        try:
            recalc_job_resume(job=job, actor=None, actor_label="watchdog")
        except (InvalidState, JobActive, SessionClosed) as error:
            logger.info("job %s not resumed: %s", job.pk, error.message)
            continue
        resumed.append(job.pk)
    return resumed


def _redispatch_forgotten(cutoff: Any) -> list[int]:
    forgotten = RecalcJob.objects.filter(status=RecalcJob.Status.QUEUED).filter(
        Q(dispatched_at__lt=cutoff) | Q(dispatched_at__isnull=True, created_at__lt=cutoff)
    )
    job_ids = list(forgotten.values_list("pk", flat=True))
    for job_id in job_ids:
        recalc_job_dispatch(job_id=job_id)
    return job_ids


def _who(actor: Any) -> str:
    return actor.get_username() if actor is not None and actor.is_authenticated else "system"
