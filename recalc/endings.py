"""How a job ends (completed, failed, cancelled): its row, the session's status, the audit
event, the in-app notification and the email, in one transaction. Shared by the runner, the
operator actions and the watchdog."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import ActivityEvent, Notification
from audit.services import activity_event_record, notification_send
from recalc.models import RecalcJob
from recalc.notifications import job_end_email_send
from recalc.progress import STAGES
from sessions_app.lifecycle import session_status_set
from sessions_app.models import ProcessingSession, ReceiptVersion


def job_end(
    job: RecalcJob,
    *,
    status: str,
    message: str,
    errors: list[Any] | None = None,
    attempt: int | None = None,
    only_if: Q | None = None,
    notify: bool = True,
) -> bool:
    """Move a job to a final status, with its event and notification. `attempt` (a runner)
    or `only_if` (the watchdog) make it conditional; False when the condition failed."""
    now = timezone.now()
    with transaction.atomic():
        session_lock(job.session_id)
        jobs = RecalcJob.objects.filter(pk=job.pk)
        if attempt is not None:
            jobs = jobs.filter(status=RecalcJob.Status.RUNNING, attempts=attempt)
        if only_if is not None:
            jobs = jobs.filter(only_if)
        held = list(jobs.select_for_update().values_list("errors", flat=True))
        if not held:
            return False
        fields: dict[str, Any] = {
            "status": status,
            "message": message[:500],
            "finished_at": now,
            "heartbeat_at": now,
        }
        if status == RecalcJob.Status.COMPLETED:
            fields.update(stage=6, stage_name=STAGES[6], progress=1.0, completed_stage=6)
        if errors:
            fields["errors"] = list(held[0] or []) + errors
        jobs.update(**fields)
        if status != RecalcJob.Status.COMPLETED:
            session_after_unapplied_job(job, status)
        _job_end_event(job, status, message, errors or [])
        if notify:
            _notify(job, status, message, has_errors=bool(errors))
    return True


def session_lock(session_id: int) -> None:
    """Session row first, then the job row: the order the apply transaction takes them, so
    the watchdog or an operator never deadlocks with an apply in progress."""
    list(ProcessingSession.objects.select_for_update().filter(pk=session_id).values_list("pk"))


def job_locked(job: RecalcJob) -> RecalcJob:
    session_lock(job.session_id)
    return (
        RecalcJob.objects.select_for_update(of=("self",)).select_related("session").get(pk=job.pk)
    )


def _job_end_event(job: RecalcJob, status: str, message: str, errors: list[Any]) -> None:
    verbs: dict[str, str] = {
        RecalcJob.Status.COMPLETED: ActivityEvent.Verb.JOB_FINISHED,
        RecalcJob.Status.FAILED: ActivityEvent.Verb.JOB_FAILED,
        RecalcJob.Status.CANCELLED: ActivityEvent.Verb.JOB_CANCELLED,
    }
    verb = verbs[status]
    activity_event_record(
        verb=verb,
        message=f"Job {job.pk} {status}: {message}",
        actor=job.created_by,
        session=job.session,
        details={"job": job.pk, "kind": job.kind, "errors": errors[:20]},
    )


def session_after_unapplied_job(job: RecalcJob, status: str) -> None:
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
    session_status_set(
        session_id=session.pk,
        status=new_status,
        actor=job.created_by,
        reason=f"job {job.pk} {status}",
    )


def _notify(job: RecalcJob, status: str, message: str, *, has_errors: bool = False) -> None:
    if job.created_by is None:
        return
    levels: dict[str, str] = {
        RecalcJob.Status.COMPLETED: Notification.Level.SUCCESS,
        RecalcJob.Status.FAILED: Notification.Level.ERROR,
    }
    level = levels.get(status, Notification.Level.INFO)
    if has_errors:
        level = Notification.Level.ERROR
    text = f"Session '{job.session.name}': recalculation {status}. {message}"
    notification_send(
        user=job.created_by, message=text, link=f"/sessions/{job.session_id}/", level=level
    )
    if job.created_by.email:
        transaction.on_commit(lambda: job_end_email_send(job_id=job.pk))
