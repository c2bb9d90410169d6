"""Resolving an employee's exception."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import (
    InvalidState,
    StaleVersion,
    ValidationFailed,
)
from core.history import history_note
from core.locking import ensure_open, lock
from sessions_app.models import (
    EmployeeRevision,
)


def revision_resolve(
    *, revision: EmployeeRevision, note: str, expected_version: int, actor: Any
) -> EmployeeRevision:
    """Accept an exception with a note. The caller sends the version it saw: a revision
    changed since then is refused, saying who changed it and when."""
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("Resolving an exception needs a note.")
    with transaction.atomic():
        session = lock(revision.session)
        ensure_open(session)
        current = EmployeeRevision.objects.select_for_update().get(pk=revision.pk)
        if current.version != int(expected_version):
            raise _stale(current, int(expected_version))
        if not current.is_resolvable:
            raise InvalidState(f"{current.employee_id} is {current.status}: nothing to resolve.")
        current.status = EmployeeRevision.Status.RESOLVED
        current.resolution_note = note
        current.resolved_by = actor
        current.resolved_at = timezone.now()
        current.version += 1
        history_note(current, actor=actor, reason="resolved by operator")
        current.save()
        activity_event_record(
            verb=ActivityEvent.Verb.EMPLOYEE_RESOLVED,
            message=f"{current.employee_id} resolved: {note}",
            actor=actor,
            session=session,
            details={
                "employee_id": current.employee_id,
                "note": note,
                "car_amount": str(current.car_amount),
                "receipt_amount": str(current.receipt_amount),
            },
        )
    return current


def _stale(current: EmployeeRevision, expected: int) -> StaleVersion:
    last = current.history.select_related("history_user").order_by("-history_id").first()
    who = last.history_user.get_username() if last and last.history_user else "a recalculation"
    when = f"{last.history_date:%Y-%m-%d %H:%M}" if last else "recently"
    return StaleVersion(
        f"{current.employee_id} was changed by {who} at {when} after you opened it "
        f"(version {current.version}, you saw {expected}). Reload and try again.",
        details={"current_version": current.version, "changed_by": who, "changed_at": when},
    )
