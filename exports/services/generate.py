"""Generating an export batch: the session lock, idempotent replay, batch codes, its
lines and its stored file."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.fields.files import FieldFile
from django.db.models.utils import create_namedtuple_class
from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import (
    ConfirmRequired,
    InvalidState,
    JobActive,
    NothingToExport,
    ValidationFailed,
)
from core.faults import fault_point
from core.history import actor_or_none
from core.locking import ensure_open, lock
from core.storage import files_removed_on_error
from exports.errors import IdempotencyKeyReused
from exports.models import ExportBatch, ExportLine
from exports.selectors import (
    EXPORT_TYPES,
    already_exported_batches,
    batches_awaiting_mark,
    export_candidates,
)
from exports.snapshots import (
    export_lines_insert,
    export_lines_insert_returning,
    snapshots_set_with_history,
    uses_returning_path,
)
from exports.writers import export_file_bytes
from recalc.selectors import active_job_for
from sessions_app.models import ZERO, EmployeeRevision, ProcessingSession

logger = logging.getLogger(__name__)


CODE_PREFIX: dict[str, str] = {
    ExportBatch.ExportType.PVAULT: "PV",
    ExportBatch.ExportType.EXCEPTIONS: "EX",
}
FILE_FORMATS: dict[str, tuple[str, ...]] = {
    ExportBatch.ExportType.PVAULT: ("csv",),
    ExportBatch.ExportType.EXCEPTIONS: ("csv", "xlsx"),
}
LINE_BATCH_SIZE = 5000
# Two sessions of one engagement and period exporting at the same moment can pick the same
# next sequence; the unique constraint refuses the second, which takes the next number.
SEQUENCE_ATTEMPTS = 5
# What the writers read from a line (both layouts).
LINE_FILE_FIELDS = (
    "employee_id",
    "employee_name",
    "car_amount",
    "receipt_amount",
    "difference",
    "status",
    "change_type",
    "reason",
    "last_changed_at",
    "previous_exported_amount",
    "adjustment_amount",
    "unmatched_charge_count",
    "unmatched_charge_amount",
)


# --- Generation -----------------------------------------------------------------------------


@dataclass
class _ExportRequest:
    export_type: str
    delta_only: bool
    mark: bool
    file_format: str
    confirm: bool
    reason: str
    idempotency_key: str | None


def _export_request(
    *,
    export_type: str,
    delta_only: bool,
    mark_as_exported: bool | None,
    file_format: str,
    confirm: bool,
    reason: str,
    idempotency_key: str | None,
) -> _ExportRequest:
    if export_type not in EXPORT_TYPES:
        raise ValidationFailed(f"Unknown export type '{export_type}': use pvault or exceptions.")
    if file_format not in FILE_FORMATS[export_type]:
        raise ValidationFailed(
            f"A {export_type} export is written as {' or '.join(FILE_FORMATS[export_type])}."
        )
    pvault = export_type == ExportBatch.ExportType.PVAULT
    # An exceptions report is a chase list, never loaded into pVault: nothing to mark.
    mark = pvault and (True if mark_as_exported is None else bool(mark_as_exported))
    key = (idempotency_key or "").strip()[:100] or None
    return _ExportRequest(
        export_type, bool(delta_only), mark, file_format, bool(confirm), (reason or "").strip(), key
    )


def request_fingerprint(session: ProcessingSession, request: _ExportRequest) -> str:
    body = {
        "session": session.pk,
        "export_type": request.export_type,
        "delta_only": request.delta_only,
        "mark_as_exported": request.mark,
        "file_format": request.file_format,
        "confirm": request.confirm,
        "reason": request.reason,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _replayed(session: ProcessingSession, request: _ExportRequest) -> ExportBatch | None:
    """The batch this same request made before, or None; IdempotencyKeyReused when the
    key made a batch for a different request. Keys are looked up across the engagement,
    so a key reused on another session is caught too."""
    if request.idempotency_key is None:
        return None
    batch = ExportBatch.objects.filter(
        engagement_id=session.engagement_id, idempotency_key=request.idempotency_key
    ).first()
    if batch is None:
        return None
    same = (
        batch.session_id == session.pk
        and batch.export_type == request.export_type
        and batch.delta_only == request.delta_only
        # Batches made before fingerprints were kept are compared on the fields above.
        and batch.request_fingerprint in ("", request_fingerprint(session, request))
    )
    if not same:
        raise IdempotencyKeyReused(
            f"This Idempotency-Key was already used for a different export request "
            f"({batch.batch_code}); send a new key for a new request.",
            details={"batch_code": batch.batch_code},
        )
    return batch


def _ensure_exportable(session: ProcessingSession, request: _ExportRequest) -> None:
    ensure_open(session)
    job = active_job_for(session)
    if job is not None:
        raise JobActive(
            f"Session '{session.name}' has a recalculation in progress (job {job.pk}, "
            f"{job.status}); export once it has finished.",
            details={"job": job.pk, "job_url": f"/api/v1/jobs/{job.pk}/"},
        )
    if request.export_type == ExportBatch.ExportType.PVAULT:
        waiting = batches_awaiting_mark(session)
        if waiting:
            raise InvalidState(
                f"{', '.join(waiting)} was generated without marking its employees as "
                "exported: mark it (once pVault has loaded it) or void it first, so that no "
                "employee is sent twice.",
                details={"batches": waiting},
            )


def export_batch_create(
    *,
    session: ProcessingSession,
    export_type: str,
    actor: Any,
    delta_only: bool = True,
    mark_as_exported: bool | None = None,
    confirm: bool = False,
    reason: str = "",
    idempotency_key: str | None = None,
    file_format: str = "csv",
) -> tuple[ExportBatch, bool]:
    """Generate one export batch and its file. Returns (batch, created): a replayed
    idempotency key gives back the batch it made the first time, with created False.

    Raises NothingToExport, ConfirmRequired (an `all` pVault export repeating employees
    without confirm and a reason), SessionClosed, JobActive, InvalidState (a pVault batch
    still waiting to be marked)."""
    request = _export_request(
        export_type=export_type,
        delta_only=delta_only,
        mark_as_exported=mark_as_exported,
        file_format=file_format,
        confirm=confirm,
        reason=reason,
        idempotency_key=idempotency_key,
    )
    replay = _replayed(session, request)
    if replay is not None:
        return replay, False
    with files_removed_on_error() as saved, transaction.atomic():
        session = lock(session)
        # The request that held the lock before us may have been this same request.
        replay = _replayed(session, request)
        if replay is not None:
            return replay, False
        _ensure_exportable(session, request)
        candidates = export_candidates(
            session, export_type=request.export_type, delta_only=request.delta_only
        )
        warnings = _check_scope(session, request, candidates)
        batch = _batch_generate(session, request, candidates, actor, warnings, saved)
    return batch, True


def _check_scope(
    session: ProcessingSession, request: _ExportRequest, candidates: QuerySet[EmployeeRevision]
) -> list[dict[str, Any]]:
    figures = candidates.order_by().aggregate(
        n=Count("pk"), repeated=Count("pk", filter=Q(change_kind="unchanged"))
    )
    if not figures["n"]:
        what = "export" if request.export_type == ExportBatch.ExportType.PVAULT else "report"
        raise NothingToExport(
            f"Nothing new to {what} in session '{session.name}': no employee is new or "
            "changed since its last export.",
            details={"export_type": request.export_type, "delta_only": request.delta_only},
        )
    repeated = figures["repeated"]
    if not repeated:
        return []
    batches = already_exported_batches(session)
    listed = ", ".join(f"{row['batch_code']} ({row['employee_count']})" for row in batches)
    message = (
        f"{repeated} employees were already exported with the same amounts (in {listed}); "
        "sending them again needs a confirmation and a reason."
    )
    details = {"already_exported_count": repeated, "batches": batches}
    if not (request.confirm and request.reason):
        raise ConfirmRequired(message, details=details)
    return [{"code": "already_exported", "message": message, "details": details}]


def _batch_generate(
    session: ProcessingSession,
    request: _ExportRequest,
    candidates: QuerySet[EmployeeRevision],
    actor: Any,
    warnings: list[dict[str, Any]],
    saved: list[FieldFile],
) -> ExportBatch:
    """Batch row, lines (one INSERT … SELECT), snapshots and history, file."""
    now = timezone.now()
    batch = ExportBatch(
        session=session,
        engagement_id=session.engagement_id,
        export_type=request.export_type,
        period=session.period_code,
        session_name=session.name,
        period_start=session.period_start,
        period_end=session.period_end,
        delta_only=request.delta_only,
        mark_as_exported=request.mark,
        marked_at=now if request.mark else None,
        file_format=request.file_format,
        idempotency_key=request.idempotency_key,
        request_fingerprint=(
            request_fingerprint(session, request) if request.idempotency_key else ""
        ),
        reason=request.reason,
        warnings=warnings,
        exported_by=actor_or_none(actor),
    )
    # One history row with the final state (file, hash, counts) is written below.
    batch.skip_history_when_saving = True  # type: ignore[attr-defined]
    _batch_insert(batch)
    lines = _lines_insert(batch, candidates)
    # The file is written in Python while the database moves the snapshots and checks the
    # references: a 100k-line export keeps two cores busy instead of one after the other.
    # The writer only reads the lines and the batch header; every query stays here.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-file") as writer:
        writing = writer.submit(_file_generate, batch, lines)
        if request.mark:
            snapshots_set_with_history(
                batch, marked_at=now, actor=actor, reason=f"exported in {batch.batch_code}"
            )
            fault_point("exports.snapshots_set", batch)
        _references_checked()
        generated = writing.result()
    _batch_file_store(batch, generated, saved)
    del batch.skip_history_when_saving  # type: ignore[attr-defined]
    ExportBatch.history.bulk_history_create(  # type: ignore[attr-defined]
        [batch],
        default_user=actor_or_none(actor),
        default_change_reason=f"export generated: {batch.batch_code}",
        default_date=now,
    )
    fault_point("exports.file_stored", batch)
    _generated_event(batch, generated, actor)
    return batch


def _next_sequence(engagement_id: int, export_type: str, period: str) -> int:
    last = ExportBatch.objects.filter(
        engagement_id=engagement_id, export_type=export_type, period=period
    ).aggregate(n=Max("sequence"))["n"]
    return (last or 0) + 1


def _batch_insert(batch: ExportBatch) -> None:
    """Number the batch (per engagement, type and period: SPEC §6) and insert it. Two
    sessions of one engagement and period exporting at the same moment can both pick the
    next number; the unique constraint refuses the second,
    which (inside its savepoint) takes the number after."""
    prefix = CODE_PREFIX[batch.export_type]
    for attempt in range(1, SEQUENCE_ATTEMPTS + 1):
        batch.sequence = fault_point(
            "exports.sequence_picked",
            _next_sequence(batch.engagement_id, batch.export_type, batch.period),
        )
        batch.batch_code = f"{prefix}-{batch.period}-{batch.sequence:03d}"
        try:
            with transaction.atomic():
                batch.save()
            return
        except IntegrityError:
            _refuse_a_key_taken_concurrently(batch)
            if attempt == SEQUENCE_ATTEMPTS:
                raise
            logger.info("batch code %s taken concurrently; retrying", batch.batch_code)


def _refuse_a_key_taken_concurrently(batch: ExportBatch) -> None:
    """Another session of the engagement committed a batch with this key while this one
    was being made (the session lock does not cover that)."""
    if batch.idempotency_key is None:
        return
    taken = ExportBatch.objects.filter(
        engagement_id=batch.engagement_id, idempotency_key=batch.idempotency_key
    ).first()
    if taken is not None:
        raise IdempotencyKeyReused(
            f"This Idempotency-Key was already used for a different export request "
            f"({taken.batch_code}); send a new key for a new request.",
            details={"batch_code": taken.batch_code},
        )


def line_rows(batch: ExportBatch) -> list[Any]:
    """The lines as light rows, in code-point order of employee id: the same order on
    every database, so generation and rebuild write identical bytes."""
    rows = list(ExportLine.objects.filter(batch=batch).values_list(*LINE_FILE_FIELDS, named=True))
    rows.sort(key=attrgetter("employee_id"))
    return rows


LineRow = create_namedtuple_class(*LINE_FILE_FIELDS)
RETURNED_CHUNK = 2000


def _lines_insert(
    batch: ExportBatch, candidates: QuerySet[EmployeeRevision]
) -> Callable[[], list[Any]]:
    """Insert the batch's lines; returns how to read them as `line_rows` would, which the
    file writer calls in its thread. On PostgreSQL the INSERT hands them back (RETURNING)
    instead of 100k lines being read again, and turning them into Python rows is left to
    the writer."""
    if not uses_returning_path():
        export_lines_insert(batch, candidates, marked_at=batch.marked_at)
        rows = line_rows(batch)
        return lambda: rows
    cursor = export_lines_insert_returning(
        batch, candidates, marked_at=batch.marked_at, fields=LINE_FILE_FIELDS
    )

    def returned_rows() -> list[Any]:
        # In chunks: one fetchall() of 100k rows holds the GIL for a third of a second,
        # which would keep the main thread from sending the next statement meanwhile.
        rows: list[Any] = []
        with cursor:
            while chunk := cursor.fetchmany(RETURNED_CHUNK):
                rows += map(LineRow._make, chunk)
        rows.sort(key=attrgetter("employee_id"))
        return rows

    return returned_rows


@dataclass(frozen=True)
class _GeneratedFile:
    """A batch's file and the figures of its lines, from the writer thread."""

    data: bytes
    sha256: str
    employee_count: int
    total_amount: Decimal
    new: int
    changed: int
    adjustment_total: Decimal


def _file_generate(batch: ExportBatch, lines: Callable[[], list[Any]]) -> _GeneratedFile:
    """No database access: this runs beside the statements of the export."""
    rows = lines()
    data = fault_point("exports.file_written", export_file_bytes(batch, rows))
    return _GeneratedFile(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        employee_count=len(rows),
        total_amount=sum((row.car_amount for row in rows), ZERO),
        new=sum(1 for row in rows if row.change_type == "NEW"),
        changed=sum(1 for row in rows if row.change_type == "CHANGED"),
        adjustment_total=sum((row.adjustment_amount for row in rows), ZERO),
    )


def _references_checked() -> None:
    """PostgreSQL checks the deferred foreign keys of what the export wrote now, while the
    file is being written, rather than after it at COMMIT."""
    if connection.vendor == "postgresql":
        connection.check_constraints()


def _batch_file_store(
    batch: ExportBatch, generated: _GeneratedFile, saved: list[FieldFile]
) -> None:
    batch.file.save(export_file_name(batch), ContentFile(generated.data), save=False)
    saved.append(batch.file)
    batch.file_size, batch.sha256 = len(generated.data), generated.sha256
    batch.employee_count = generated.employee_count
    batch.total_amount = generated.total_amount
    batch.save(update_fields=["file", "file_size", "sha256", "employee_count", "total_amount"])


def _generated_event(batch: ExportBatch, generated: _GeneratedFile, actor: Any) -> None:
    scope = "delta" if batch.delta_only else "all"
    activity_event_record(
        verb=ActivityEvent.Verb.EXPORT_GENERATED,
        message=f"{batch.batch_code} generated ({batch.export_type}, {scope}): "
        f"{batch.employee_count} employees, {batch.total_amount:.2f}"
        + ("" if batch.mark_as_exported or not batch.is_pvault else ", not marked as exported")
        + (f"; reason: {batch.reason}" if batch.reason else ""),
        actor=actor,
        session=batch.session,
        details={
            "batch_id": batch.pk,
            "batch_code": batch.batch_code,
            "export_type": batch.export_type,
            "delta_only": batch.delta_only,
            "marked": batch.mark_as_exported,
            "employee_count": batch.employee_count,
            "new": generated.new,
            "changed": generated.changed,
            "total_amount": f"{batch.total_amount:.2f}",
            "adjustment_total": f"{generated.adjustment_total:.2f}",
            "sha256": batch.sha256,
            "file_size": batch.file_size,
            "reason": batch.reason,
            "warnings": [warning["code"] for warning in batch.warnings],
        },
    )


def export_file_name(batch: ExportBatch) -> str:
    return f"{batch.batch_code}.{batch.file_format}"
