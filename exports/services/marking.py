"""Marking a batch as loaded into pVault, and voiding it."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import (
    AlreadyVoid,
    InvalidState,
    ValidationFailed,
)
from core.history import actor_or_none, history_note
from core.locking import ensure_open, lock
from exports.models import ExportBatch, ExportLine
from exports.snapshots import (
    snapshots_restore_with_history,
    snapshots_set_with_history,
)
from sessions_app.models import ZERO, ProcessingSession

logger = logging.getLogger(__name__)

# --- Marking and voiding ---------------------------------------------------------------------


def _batch_locked(batch: ExportBatch) -> tuple[ProcessingSession, ExportBatch]:
    session = lock(batch.session)
    ensure_open(session)
    batch = ExportBatch.objects.select_for_update().get(pk=batch.pk)
    batch.session = session
    if not batch.is_pvault:
        raise InvalidState(
            f"{batch.batch_code} is an exceptions report: it never changed what pVault holds."
        )
    if batch.is_void:
        raise AlreadyVoid(f"{batch.batch_code} was voided on {batch.voided_at:%Y-%m-%d}.")
    return session, batch


def export_batch_mark_exported(
    *, batch: ExportBatch, actor: Any, employee_ids: list[str] | None = None
) -> int:
    """Second step of generate → load into pVault → confirm: the batch's (or the listed)
    unmarked lines become what pVault holds. Returns how many lines were marked now."""
    with transaction.atomic():
        session, batch = _batch_locked(batch)
        lines = _lines_to_mark(batch, employee_ids)
        pending: list[Any] = list(
            lines.values_list(
                "employee_id",
                "had_previous_export",
                "previous_exported_amount",
                "previous_batch_id",
                "revision__exported_car_amount",
                "revision__last_export_batch_id",
                "adjustment_amount",
                named=True,
            )
        )
        if not pending:
            return 0
        _refuse_stale(batch, pending)
        now = timezone.now()
        lines.update(marked_at=now)
        snapshots_set_with_history(
            batch, marked_at=now, actor=actor, reason=f"marked as exported in {batch.batch_code}"
        )
        _batch_marked_state(batch, actor=actor, when=now)
        _marked_event(session, batch, pending, actor)
    return len(pending)


def _lines_to_mark(batch: ExportBatch, employee_ids: list[str] | None) -> QuerySet[ExportLine]:
    lines = ExportLine.objects.filter(batch=batch)
    if employee_ids is not None:
        wanted = {str(employee_id) for employee_id in employee_ids}
        known = set(lines.filter(employee_id__in=wanted).values_list("employee_id", flat=True))
        if wanted - known:
            raise ValidationFailed(
                f"Not in {batch.batch_code}: " + ", ".join(sorted(wanted - known)[:20]),
                details={"unknown_employee_ids": sorted(wanted - known)},
            )
        lines = lines.filter(employee_id__in=wanted)
    return lines.filter(marked_at__isnull=True)


def _refuse_stale(batch: ExportBatch, pending: list[Any]) -> None:
    """A line is computed against the snapshot of its time; marking it is only right if
    that is still what pVault holds (it is, unless someone went around the services)."""
    stale = [
        row.employee_id
        for row in pending
        if row.revision__exported_car_amount
        != (row.previous_exported_amount if row.had_previous_export else None)
        or row.revision__last_export_batch_id != row.previous_batch_id
    ]
    if stale:
        raise InvalidState(
            f"{len(stale)} employees of {batch.batch_code} were exported again since it was "
            "generated; its amounts for them are out of date: " + ", ".join(stale[:20]),
            details={"employee_ids": stale},
        )


def _batch_marked_state(batch: ExportBatch, *, actor: Any, when: datetime.datetime) -> None:
    if batch.lines.filter(marked_at__isnull=True).exists():
        return
    batch.marked_at = when
    history_note(batch, actor=actor, reason="marked as exported")
    batch.save(update_fields=["marked_at"])


def _marked_event(
    session: ProcessingSession, batch: ExportBatch, pending: list[Any], actor: Any
) -> None:
    adjustments = sum((row.adjustment_amount for row in pending), ZERO)
    activity_event_record(
        verb=ActivityEvent.Verb.EXPORT_MARKED,
        message=f"{batch.batch_code}: {len(pending)} employees marked as exported "
        f"(adjustments {adjustments:.2f})",
        actor=actor,
        session=session,
        details={
            "batch_id": batch.pk,
            "batch_code": batch.batch_code,
            "employee_ids": [row.employee_id for row in pending][:1000],
            "count": len(pending),
            "adjustment_total": f"{adjustments:.2f}",
            "batch_fully_marked": batch.marked_at is not None,
        },
    )


def _later_batches_sharing(batch: ExportBatch) -> dict[str, list[str]]:
    """Live pVault batches made after this one that include any of its employees."""
    rows = (
        ExportLine.objects.filter(
            batch__session_id=batch.session_id,
            batch__export_type=ExportBatch.ExportType.PVAULT,
            batch__status=ExportBatch.Status.ACTIVE,
            batch__pk__gt=batch.pk,
            revision_id__in=ExportLine.objects.filter(batch=batch).values("revision_id"),
        )
        .order_by("batch_id", "employee_id")
        .values_list("batch__batch_code", "employee_id")
    )
    sharing: dict[str, list[str]] = {}
    for code, employee_id in rows:
        sharing.setdefault(code, []).append(employee_id)
    return sharing


def export_batch_void(*, batch: ExportBatch, reason: str, actor: Any) -> ExportBatch:
    """Take a pVault batch back: each employee it marked gets its previous snapshot
    again. Refused when a later live batch includes any of the same employees (void that
    one first), because its lines were computed against this batch's amounts."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Voiding an export needs a reason.")
    with transaction.atomic():
        session, batch = _batch_locked(batch)
        later = _later_batches_sharing(batch)
        if later:
            raise InvalidState(
                f"{batch.batch_code} cannot be voided: "
                + "; ".join(
                    f"{code} includes {len(ids)} of its employees" for code, ids in later.items()
                )
                + ". Void the later batches first.",
                details={"later_batches": later},
            )
        now = timezone.now()
        restored = _restore_revisions(batch, reason=reason, actor=actor, when=now)
        batch.status = ExportBatch.Status.VOID
        batch.voided_by = actor_or_none(actor)
        batch.voided_at = now
        batch.void_reason = reason
        history_note(batch, actor=actor, reason=f"voided: {reason}")
        batch.save(update_fields=["status", "voided_by", "voided_at", "void_reason"])
        _voided_event(session, batch, restored, actor)
    return batch


def _restore_revisions(
    batch: ExportBatch, *, reason: str, actor: Any, when: datetime.datetime
) -> list[Any]:
    marked: list[Any] = list(
        ExportLine.objects.filter(batch=batch, marked_at__isnull=False).values_list(
            "employee_id",
            "car_amount",
            "receipt_amount",
            "adjustment_amount",
            "revision__exported_car_amount",
            "revision__exported_receipt_amount",
            "revision__last_export_batch_id",
            named=True,
        )
    )
    drifted = [
        row.employee_id
        for row in marked
        if (row.revision__exported_car_amount, row.revision__exported_receipt_amount)
        != (row.car_amount, row.receipt_amount)
        or row.revision__last_export_batch_id != batch.pk
    ]
    if drifted:
        raise InvalidState(
            f"{batch.batch_code} is no longer what pVault holds for "
            + ", ".join(drifted[:20])
            + "; it cannot be voided safely.",
            details={"employee_ids": drifted},
        )
    snapshots_restore_with_history(
        batch, actor=actor, reason=f"{batch.batch_code} voided: {reason}", when=when
    )
    return marked


def _voided_event(
    session: ProcessingSession, batch: ExportBatch, restored: list[Any], actor: Any
) -> None:
    adjustments = sum((row.adjustment_amount for row in restored), ZERO)
    activity_event_record(
        verb=ActivityEvent.Verb.EXPORT_VOIDED,
        message=f"{batch.batch_code} voided: {batch.void_reason} "
        f"({len(restored)} employees restored to their previous export)",
        actor=actor,
        session=session,
        details={
            "batch_id": batch.pk,
            "batch_code": batch.batch_code,
            "reason": batch.void_reason,
            "employees_restored": len(restored),
            "adjustment_total_withdrawn": f"{adjustments:.2f}",
        },
    )
