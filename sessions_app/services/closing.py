"""Closing a session (SPEC §3): never losing money silently. The rule lives here; the
close dialog, the API and admin's bulk close only show what it answers."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import DomainError, JobActive, UnexportedEmployees, ValidationFailed
from core.history import history_note
from core.locking import ensure_open, lock
from core.money import format_money
from exports.selectors import ClosePending, close_pending
from recalc.models import RecalcJob
from sessions_app.models import ProcessingSession


def session_close(
    *, session: ProcessingSession, reason: str, actor: Any, close_anyway: bool = False
) -> ProcessingSession:
    """Close a session for good. While export-ready employees are not in pVault or a job is
    queued or running, the close is refused (`job_active` / `unexported_employees`, details
    from `close_pending`) unless `close_anyway`; then the pending figures go into the audit
    event with the reason and the job is told to stop."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Closing a session needs a reason.")
    with transaction.atomic():
        session = lock(session)
        ensure_open(session)
        pending = close_pending(session)
        if pending.blocks and not close_anyway:
            raise close_refusal(session, pending)
        if pending.job is not None:
            RecalcJob.objects.filter(pk=pending.job.pk).update(cancel_requested=True)
        session.status = ProcessingSession.Status.CLOSED
        session.closed_at = timezone.now()
        session.closed_by = actor
        session.closure_reason = reason
        history_note(session, actor=actor, reason=f"closed: {reason}")
        session.save()
        activity_event_record(
            verb=ActivityEvent.Verb.SESSION_CLOSED,
            message=_closed_message(session, pending, reason),
            actor=actor,
            session=session,
            details={"reason": reason, "close_anyway": pending.blocks, **pending.as_details()},
        )
    return session


def close_pending_text(session: ProcessingSession, pending: ClosePending) -> str:
    """What closing now leaves behind, in words, e.g. "4 export-ready employees
    (1,512.29 EUR) not exported to pVault and recalculation 7 still running"."""
    parts = []
    if pending.count:
        noun = "employee" if pending.count == 1 else "employees"
        amount = format_money(pending.amount, session.currency)
        parts.append(f"{pending.count} export-ready {noun} ({amount}) not exported to pVault")
    if pending.job is not None:
        status = pending.job.get_status_display().lower()
        parts.append(f"recalculation {pending.job.pk} still {status}")
    return " and ".join(parts)


def close_refusal(session: ProcessingSession, pending: ClosePending) -> DomainError:
    text = close_pending_text(session, pending)
    error_class = JobActive if pending.job is not None else UnexportedEmployees
    return error_class(
        f"{text[0].upper()}{text[1:]}; close anyway, with a reason, to close regardless.",
        details=pending.as_details(),
    )


def _closed_message(session: ProcessingSession, pending: ClosePending, reason: str) -> str:
    if not pending.blocks:
        return f"Session '{session.name}' closed: {reason}"
    left = close_pending_text(session, pending)
    return f"Session '{session.name}' closed anyway with {left}: {reason}"
