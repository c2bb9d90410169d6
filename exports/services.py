"""Writes of the exports domain. Pages, API, admin and commands all call these.

The promise: pVault never receives the same employee twice by mistake, and every export
can be proven afterwards. Generation locks the session row, so two delta exports of one
session are serialised and the second sees the first one's snapshots; batch codes are
unique across all sessions; the stored file's size and sha256 are kept and checked on
every download; the file can be rebuilt byte for byte from its lines.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
    DomainError,
    InvalidState,
    JobActive,
    NothingToExport,
    ValidationFailed,
)
from core.locking import ensure_open, lock
from core.storage import files_removed_on_error
from exports.errors import ExportFileCorrupt
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
    history_user,
    snapshots_restore_with_history,
    snapshots_set_with_history,
    uses_returning_path,
)
from exports.writers import export_file_bytes, manifest_csv, zip_bytes
from recalc.selectors import active_job_for
from sessions_app.models import ZERO, EmployeeRevision, ProcessingSession

__all__ = [
    "BulkExportResult",
    "ExportFileCorrupt",
    "export_batch_create",
    "export_batch_file",
    "export_batch_mark_exported",
    "export_batch_rebuild",
    "export_batch_void",
    "exports_bulk_create",
]

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
# Two sessions of the same period exporting at the same moment can pick the same next
# sequence; the unique constraint refuses the second, which takes the next number.
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


def _replayed(session: ProcessingSession, key: str | None) -> ExportBatch | None:
    if key is None:
        return None
    return ExportBatch.objects.filter(session=session, idempotency_key=key).first()


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
    replay = _replayed(session, request.idempotency_key)
    if replay is not None:
        return replay, False
    with files_removed_on_error() as saved, transaction.atomic():
        session = lock(session)
        # The request that held the lock before us may have been this same request.
        replay = _replayed(session, request.idempotency_key)
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
        reason=request.reason,
        warnings=warnings,
        exported_by=history_user(actor),
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
        _references_checked()
        generated = writing.result()
    _batch_file_store(batch, generated, saved)
    del batch.skip_history_when_saving  # type: ignore[attr-defined]
    ExportBatch.history.bulk_history_create(  # type: ignore[attr-defined]
        [batch],
        default_user=history_user(actor),
        default_change_reason=f"export generated: {batch.batch_code}",
        default_date=now,
    )
    _generated_event(batch, generated, actor)
    return batch


def _next_sequence(export_type: str, period: str) -> int:
    last = ExportBatch.objects.filter(export_type=export_type, period=period).aggregate(
        n=Max("sequence")
    )["n"]
    return (last or 0) + 1


def _batch_insert(batch: ExportBatch) -> None:
    """Number the batch and insert it. Two sessions of one period exporting at the same
    moment can both pick the next number; the unique constraint refuses the second,
    which (inside its savepoint) takes the number after."""
    prefix = CODE_PREFIX[batch.export_type]
    for attempt in range(1, SEQUENCE_ATTEMPTS + 1):
        batch.sequence = _next_sequence(batch.export_type, batch.period)
        batch.batch_code = f"{prefix}-{batch.period}-{batch.sequence:03d}"
        try:
            with transaction.atomic():
                batch.save()
            return
        except IntegrityError:
            if attempt == SEQUENCE_ATTEMPTS:
                raise
            logger.info("batch code %s taken concurrently; retrying", batch.batch_code)


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
    data = export_file_bytes(batch, rows)
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
        raise InvalidState(f"{batch.batch_code} was voided on {batch.voided_at:%Y-%m-%d}.")
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
    batch._history_user = history_user(actor)  # type: ignore[attr-defined]
    batch._change_reason = "marked as exported"  # type: ignore[attr-defined]
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
        batch.voided_by = history_user(actor)
        batch.voided_at = now
        batch.void_reason = reason
        batch._history_user = history_user(actor)  # type: ignore[attr-defined]
        batch._change_reason = f"voided: {reason}"[:100]  # type: ignore[attr-defined]
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


# --- Files ---------------------------------------------------------------------------------


def export_batch_stored_bytes(batch: ExportBatch) -> bytes:
    """The stored file, refused when it is missing or differs from what was generated."""
    if not batch.file.name or not batch.file.storage.exists(batch.file.name):
        raise ExportFileCorrupt(
            f"The file of {batch.batch_code} is missing from storage.",
            details={"batch_code": batch.batch_code, "file": batch.file.name},
        )
    with batch.file.storage.open(batch.file.name, "rb") as handle:
        data = handle.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != batch.sha256 or len(data) != batch.file_size:
        raise ExportFileCorrupt(
            f"The stored file of {batch.batch_code} no longer matches its sha256: it was "
            "changed after it was generated. Rebuild it from its lines.",
            details={"batch_code": batch.batch_code, "expected": batch.sha256, "actual": actual},
        )
    return data


def export_batch_file(*, batch: ExportBatch, actor: Any) -> bytes:
    """A download: the identical bytes every time, hash verified. Allowed on closed
    sessions and void batches (auditors re-read them)."""
    data = export_batch_stored_bytes(batch)
    activity_event_record(
        verb=ActivityEvent.Verb.EXPORT_DOWNLOADED,
        message=f"{batch.batch_code} downloaded",
        actor=actor,
        session=batch.session,
        details={"batch_id": batch.pk, "batch_code": batch.batch_code, "sha256": batch.sha256},
    )
    return data


def export_batch_rebuild(*, batch: ExportBatch) -> bytes:
    """The batch's file written again from its ExportLines: byte-identical to the stored
    one, which is how a lost or altered file is proven and restored."""
    return export_file_bytes(batch, line_rows(batch))


def export_file_name(batch: ExportBatch) -> str:
    return f"{batch.batch_code}.{batch.file_format}"


# --- Bulk ----------------------------------------------------------------------------------


@dataclass
class BulkExportResult:
    zip_bytes: bytes
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok_count(self) -> int:
        return sum(1 for result in self.results if result["ok"])


def _bulk_one(
    session: ProcessingSession, *, export_type: str, delta_only: bool, actor: Any
) -> tuple[dict[str, Any], dict[str, Any], tuple[str, bytes] | None]:
    result: dict[str, Any] = {"session_id": session.pk, "ok": False, "error": None}
    result["batch_code"] = result["code"] = None
    row: dict[str, Any] = {"session_id": session.pk, "session": session.name}
    row["export_type"] = export_type
    try:
        batch, _ = export_batch_create(
            session=session, export_type=export_type, delta_only=delta_only, actor=actor
        )
        data = export_batch_stored_bytes(batch)
    except DomainError as error:
        result.update(error=error.message, code=error.code)
        return result, {**row, "error": error.message}, None
    except Exception as error:  # one broken session must not stop the others
        logger.exception("bulk export of session %s failed", session.pk)
        result.update(error=f"Unexpected error: {error}", code="error")
        return result, {**row, "error": result["error"]}, None
    name = export_file_name(batch)
    result.update(ok=True, batch_code=batch.batch_code, employee_count=batch.employee_count)
    row.update(
        batch_code=batch.batch_code,
        employee_count=batch.employee_count,
        total_amount=batch.total_amount,
        file_name=name,
        file_size=batch.file_size,
        sha256=batch.sha256,
    )
    return result, row, (name, data)


def exports_bulk_create(
    *,
    sessions: Any,
    export_type: str = ExportBatch.ExportType.PVAULT,
    delta_only: bool = True,
    actor: Any,
) -> BulkExportResult:
    """Export several sessions at once: one batch per session, one ZIP holding each
    file and a manifest. A session that fails (closed, nothing to export, job active…) is
    reported in the results and the manifest; the others go on."""
    results, rows, members = [], [], []
    for session in sessions:
        result, row, member = _bulk_one(
            session, export_type=export_type, delta_only=delta_only, actor=actor
        )
        results.append(result)
        rows.append(row)
        if member is not None:
            members.append(member)
    members.append(("manifest.csv", manifest_csv(rows)))
    ok = sum(1 for result in results if result["ok"])
    activity_event_record(
        verb=ActivityEvent.Verb.BULK_EXPORT,
        message=f"Bulk {export_type} export of {len(results)} sessions: {ok} exported, "
        f"{len(results) - ok} failed",
        actor=actor,
        details={"export_type": export_type, "delta_only": delta_only, "results": results},
    )
    return BulkExportResult(zip_bytes=zip_bytes(members), results=results)
