"""Reads of the exports domain: change tracking, what an export would contain, the proof.

`change_kind` is computed in SQL with the same definition as `EmployeeRevision.change`,
and both the change summary and the export selection are built from it, so the summary's
counts are by construction what a delta export contains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404

from exports.models import ExportBatch, ExportLine, SessionChangeSummary
from recalc.selectors import active_job_for
from sessions_app.access import check_engagement_access
from sessions_app.archival import archived_statement_total
from sessions_app.models import MONEY, ZERO, CardTransaction, EmployeeRevision, ProcessingSession

CHANGE_KINDS = ("new", "changed", "unchanged", "not_ready")
DELTA_KINDS = ("new", "changed")
EXPORT_TYPES = tuple(ExportBatch.ExportType.values)
READY = list(EmployeeRevision.EXPORT_READY)
NOT_READY = [s for s in EmployeeRevision.Status.values if s not in EmployeeRevision.EXPORT_READY]
PREVIEW_EMPLOYEE_LIMIT = 1000
OFFENDERS_LISTED = 100


def money_field() -> DecimalField:
    return DecimalField(max_digits=MONEY["max_digits"], decimal_places=MONEY["decimal_places"])


def change_kind_expression() -> Case:
    """SQL twin of `EmployeeRevision.change`. The snapshot constraint guarantees that a
    non-null exported_car_amount comes with a non-null exported_receipt_amount."""
    return Case(
        When(~Q(status__in=READY), then=Value("not_ready")),
        When(exported_car_amount__isnull=True, then=Value("new")),
        When(
            Q(car_amount=F("exported_car_amount")) & Q(receipt_amount=F("exported_receipt_amount")),
            then=Value("unchanged"),
        ),
        default=Value("changed"),
        output_field=CharField(max_length=10),
    )


def annotate_change(revisions: QuerySet[EmployeeRevision]) -> QuerySet[EmployeeRevision]:
    """Adds `change_kind` (new / changed / unchanged / not_ready), filterable in SQL."""
    return revisions.annotate(change_kind=change_kind_expression())


def _delta_filter() -> Q:
    """new or changed, written as a filter so PostgreSQL can use the (session, status)
    index for the status part instead of evaluating the CASE on every row."""
    return Q(status__in=READY) & (
        Q(exported_car_amount__isnull=True)
        | ~Q(car_amount=F("exported_car_amount"))
        | ~Q(receipt_amount=F("exported_receipt_amount"))
    )


def change_summary(session: ProcessingSession) -> dict[str, Any]:
    """Counts and card totals per change kind: the session's SessionChangeSummary row, one
    primary-key read whatever the number of employees. The database keeps that row equal to
    `change_summary_computed` (see exports/summary_triggers.py)."""
    columns = [f"{kind}_{figure}" for kind in CHANGE_KINDS for figure in ("count", "cents")]
    row = SessionChangeSummary.objects.filter(session_id=session.pk).values(*columns).first()
    row = row or dict.fromkeys(columns, 0)
    counts = {kind: row[f"{kind}_count"] for kind in CHANGE_KINDS}
    amounts = {kind: _from_cents(row[f"{kind}_cents"]) for kind in CHANGE_KINDS}
    return _summary(counts, amounts)


def change_summary_computed(session: ProcessingSession) -> dict[str, Any]:
    """The definition `change_summary` is kept equal to: one grouped query over the
    session's revisions (~40 ms at 100k employees)."""
    rows = (
        annotate_change(EmployeeRevision.objects.filter(session=session))
        .order_by()
        .values("change_kind")  # type: ignore[misc]  # an annotation, not a field
        .annotate(n=Count("pk"), amount=Sum("car_amount"))
    )
    counts = dict.fromkeys(CHANGE_KINDS, 0)
    amounts = dict.fromkeys(CHANGE_KINDS, ZERO)
    for row in rows:
        counts[row["change_kind"]] = row["n"]
        amounts[row["change_kind"]] = _cents(row["amount"])
    return _summary(counts, amounts)


def _summary(counts: dict[str, int], amounts: dict[str, Decimal]) -> dict[str, Any]:
    summary: dict[str, Any] = dict(counts)
    summary["total"] = sum(counts[kind] for kind in CHANGE_KINDS)
    amounts = {**amounts, "total": sum((amounts[kind] for kind in CHANGE_KINDS), ZERO)}
    summary["amounts"] = amounts
    return summary


def _from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01")) + ZERO


def _cents(value: Decimal | None) -> Decimal:
    return (value or ZERO).quantize(Decimal("0.01")) + ZERO


def _already_reported() -> Exists:
    """An exceptions line with the same amounts and status in a live exceptions batch."""
    return Exists(
        ExportLine.objects.filter(
            revision=OuterRef("pk"),
            batch__export_type=ExportBatch.ExportType.EXCEPTIONS,
            batch__status=ExportBatch.Status.ACTIVE,
            car_amount=OuterRef("car_amount"),
            receipt_amount=OuterRef("receipt_amount"),
            status=OuterRef("status"),
        )
    )


def export_candidates(
    session: ProcessingSession, *, export_type: str, delta_only: bool = True
) -> QuerySet[EmployeeRevision]:
    """What an export would contain, in file order (employee id), annotated with
    `change_kind`.

    pvault: export-ready employees; delta = new + changed, all = every ready employee.
    exceptions: not-ready employees; delta leaves out those already listed with the same
    amounts and status in a live exceptions report, all = every not-ready employee."""
    if export_type not in EXPORT_TYPES:
        raise ValueError(f"unknown export type {export_type!r}")
    revisions = EmployeeRevision.objects.filter(session=session)
    if export_type == ExportBatch.ExportType.PVAULT:
        revisions = revisions.filter(_delta_filter() if delta_only else Q(status__in=READY))
    else:
        revisions = revisions.filter(status__in=NOT_READY)
        if delta_only:
            revisions = revisions.filter(~_already_reported())
    return annotate_change(revisions).order_by("employee_id")


@dataclass
class ExportPreview:
    export_type: str
    delta_only: bool
    new_count: int
    changed_count: int
    # Included when the scope is `all`, excluded (and counted here) when it is `delta`.
    already_exported_count: int
    employee_count: int
    total_amount: Decimal
    warnings: list[dict[str, Any]]
    employees: list[EmployeeRevision]
    already_exported_batches: list[dict[str, Any]]
    # `employees` lists at most `employee_limit` rows; the counts are always complete.
    employees_truncated: bool = False
    blocking: list[dict[str, Any]] = field(default_factory=list)


def _warning(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def already_exported_batches(session: ProcessingSession) -> list[dict[str, Any]]:
    """The batches that unchanged (already exported) employees went out in."""
    rows = (
        annotate_change(EmployeeRevision.objects.filter(session=session, status__in=READY))
        .filter(change_kind="unchanged")  # type: ignore[misc]  # an annotation
        .order_by()
        .values("last_export_batch__batch_code")
        .annotate(n=Count("pk"))
        .order_by("last_export_batch__batch_code")
    )
    return [
        {"batch_code": row["last_export_batch__batch_code"], "employee_count": row["n"]}
        for row in rows
    ]


def batches_awaiting_mark(session: ProcessingSession) -> list[str]:
    """Live pvault batches generated without marking whose lines are not all marked yet."""
    return list(
        ExportLine.objects.filter(
            batch__session=session,
            batch__export_type=ExportBatch.ExportType.PVAULT,
            batch__status=ExportBatch.Status.ACTIVE,
            marked_at__isnull=True,
        )
        .order_by("batch__batch_code")
        .values_list("batch__batch_code", flat=True)
        .distinct()
    )


def _pvault_counts(session: ProcessingSession, delta_only: bool) -> tuple[dict[str, int], Decimal]:
    summary = change_summary(session)
    kinds = DELTA_KINDS if delta_only else ("new", "changed", "unchanged")
    total = sum((summary["amounts"][kind] for kind in kinds), ZERO)
    return {kind: summary[kind] for kind in CHANGE_KINDS}, total


def _exceptions_counts(session: ProcessingSession, delta_only: bool) -> tuple[int, Decimal]:
    figures = (
        export_candidates(session, export_type="exceptions", delta_only=delta_only)
        .order_by()
        .aggregate(n=Count("pk"), amount=Sum("car_amount"))
    )
    return figures["n"], _cents(figures["amount"])


def export_preview(
    session: ProcessingSession,
    *,
    export_type: str,
    delta_only: bool = True,
    employee_limit: int | None = PREVIEW_EMPLOYEE_LIMIT,
) -> ExportPreview:
    """Everything an operator must see before generating: counts, total, warnings."""
    candidates = export_candidates(session, export_type=export_type, delta_only=delta_only)
    listed = candidates if employee_limit is None else candidates[: employee_limit + 1]
    employees = list(listed)
    truncated = employee_limit is not None and len(employees) > employee_limit
    employees = employees[:employee_limit] if truncated else employees
    if export_type == ExportBatch.ExportType.PVAULT:
        counts, total = _pvault_counts(session, delta_only)
        new, changed, repeated = counts["new"], counts["changed"], counts["unchanged"]
        count = new + changed + (0 if delta_only else repeated)
        batches = already_exported_batches(session) if repeated else []
    else:
        count, total = _exceptions_counts(session, delta_only)
        new, changed, repeated, batches = count, 0, 0, []
    preview = ExportPreview(
        export_type=export_type,
        delta_only=delta_only,
        new_count=new,
        changed_count=changed,
        already_exported_count=repeated,
        employee_count=count,
        total_amount=total,
        warnings=[],
        employees=employees,
        already_exported_batches=batches,
        employees_truncated=truncated,
    )
    _preview_warnings(session, preview)
    return preview


def _preview_warnings(session: ProcessingSession, preview: ExportPreview) -> None:
    """Warnings are shown; `blocking` ones also stop `export_batch_create`."""
    if session.is_closed:
        preview.blocking.append(
            _warning("session_closed", f"Session '{session.name}' is closed: no new exports.")
        )
    job = active_job_for(session)
    if job is not None:
        preview.blocking.append(
            _warning(
                "job_active",
                f"A recalculation (job {job.pk}) is {job.status}: export after it finishes.",
                job=job.pk,
            )
        )
    if preview.export_type == ExportBatch.ExportType.PVAULT:
        waiting = batches_awaiting_mark(session)
        if waiting:
            preview.blocking.append(
                _warning(
                    "batch_awaiting_mark",
                    f"{', '.join(waiting)} was generated without marking: mark it as exported "
                    "or void it before the next pVault export.",
                    batches=waiting,
                )
            )
    preview.warnings.extend(preview.blocking)
    if preview.employee_count == 0:
        preview.warnings.append(_nothing_warning(preview))
    elif not preview.delta_only and preview.already_exported_count:
        preview.warnings.append(already_exported_warning(preview))


def _nothing_warning(preview: ExportPreview) -> dict[str, Any]:
    if preview.export_type == ExportBatch.ExportType.PVAULT:
        message = "Nothing new to export: every ready employee is already in pVault."
    else:
        message = "Nothing new to report: every exception is already in a live report."
    return _warning("nothing_to_export", message)


def already_exported_warning(preview: ExportPreview) -> dict[str, Any]:
    listed = ", ".join(
        f"{row['batch_code']} ({row['employee_count']})" for row in preview.already_exported_batches
    )
    return _warning(
        "already_exported",
        f"{preview.already_exported_count} employees were already exported with the same "
        f"amounts (in {listed}); sending them again needs a confirmation and a reason.",
        count=preview.already_exported_count,
        batches=preview.already_exported_batches,
    )


# --- The proof ------------------------------------------------------------------------------


@dataclass
class SessionProof:
    statement_total: Decimal
    exported: Decimal
    pending: Decimal
    exceptions: Decimal
    balanced: bool
    difference: Decimal
    offending_employees: list[str]


def counted_export_lines(session: ProcessingSession) -> QuerySet[ExportLine]:
    """The lines pVault holds: marked lines of live pvault batches."""
    return ExportLine.objects.filter(
        batch__session=session,
        batch__export_type=ExportBatch.ExportType.PVAULT,
        batch__status=ExportBatch.Status.ACTIVE,
        marked_at__isnull=False,
    )


def session_proof(session: ProcessingSession) -> SessionProof:
    """statement total = exported + pending + exceptions, each from its own stored source:
    card lines, export lines, and the revisions' amounts less their export snapshots."""
    statement = _statement_total(session)
    exported = counted_export_lines(session).aggregate(t=Sum("adjustment_amount"))["t"]
    not_exported = F("car_amount") - Coalesce(F("exported_car_amount"), Value(ZERO))
    split = EmployeeRevision.objects.filter(session=session).aggregate(
        pending=Sum(not_exported, filter=Q(status__in=READY), output_field=money_field()),
        exceptions=Sum(not_exported, filter=Q(status__in=NOT_READY), output_field=money_field()),
    )
    figures = [_cents(statement), _cents(exported)]
    figures += [_cents(split["pending"]), _cents(split["exceptions"])]
    difference = figures[0] - figures[1] - figures[2] - figures[3]
    return SessionProof(
        statement_total=figures[0],
        exported=figures[1],
        pending=figures[2],
        exceptions=figures[3],
        balanced=difference == 0,
        difference=difference,
        offending_employees=[] if difference == 0 else proof_offenders(session),
    )


def _statement_total(session: ProcessingSession) -> Decimal | None:
    """Sum of the card lines; for an archived session, the sum its sealed manifest holds."""
    if session.archived_at is not None:
        archived = archived_statement_total(session)
        if archived is not None:
            return archived
    return CardTransaction.objects.filter(session=session).aggregate(t=Sum("amount"))["t"]


def proof_offenders(session: ProcessingSession) -> list[str]:
    """Employees whose own numbers disagree: revision car amount vs their card lines, or
    export snapshot vs the adjustments pVault received for them."""
    card = dict(
        CardTransaction.objects.filter(session=session)
        .order_by()
        .values("employee_id")
        .annotate(t=Sum("amount"))
        .values_list("employee_id", "t")
    )
    sent = dict(
        counted_export_lines(session)
        .order_by()
        .values("employee_id")
        .annotate(t=Sum("adjustment_amount"))
        .values_list("employee_id", "t")
    )
    offenders = set(card) - set(
        EmployeeRevision.objects.filter(session=session).values_list("employee_id", flat=True)
    )
    revisions = EmployeeRevision.objects.filter(session=session).values_list(
        "employee_id", "car_amount", "exported_car_amount"
    )
    lines_held = session.archived_at is None  # archived lines cannot be compared one by one
    for employee_id, car_amount, exported_car_amount in revisions.iterator():
        if lines_held and _cents(card.get(employee_id)) != _cents(car_amount):
            offenders.add(employee_id)
        if _cents(sent.get(employee_id)) != _cents(exported_car_amount):
            offenders.add(employee_id)
    return sorted(offenders)[:OFFENDERS_LISTED]


def export_history(session: ProcessingSession) -> QuerySet[ExportBatch]:
    """The session's batches, newest first, with who made and voided them."""
    return (
        ExportBatch.objects.filter(session=session)
        .select_related("exported_by", "voided_by")
        .order_by("-created_at", "-id")
    )


def export_lines_for_revision(revision: EmployeeRevision) -> QuerySet[ExportLine]:
    """Every line an employee went out in, oldest first (employee detail page)."""
    return (
        ExportLine.objects.filter(revision=revision)
        .select_related("batch", "batch__exported_by")
        .order_by("batch_id")
    )


def batch_lines(batch: ExportBatch) -> QuerySet[ExportLine]:
    return ExportLine.objects.filter(batch=batch).order_by("employee_id")


def get_batch_for(user: Any, pk: int, *, write: bool = False) -> ExportBatch:
    """An export batch the user may see (`write`: act on), with its session: 404 when there
    is no such batch or it belongs to another engagement; 403 when a viewer asks to act."""
    batch = (
        ExportBatch.objects.select_related("session", "exported_by", "voided_by")
        .filter(pk=pk)
        .first()
    )
    if batch is None:
        raise Http404("No such export batch.")
    check_engagement_access(user, batch.session.engagement_id, write=write)
    return batch
