"""What a recalculation decides, set-based: per-employee totals are added up by the database
into a scratch table, then read in fixed-size chunks, classified with the rules of
sessions_app.reconciliation and compared with the stored revisions. Only the revisions that
change are planned for writing (recalc.apply writes them).

Money is added up in integer cents in SQL, so the totals are exact on every database
(SQLite keeps decimals as floating point), and becomes Decimal again in Python.

The number of queries grows with the number of chunks, never with the number of employees,
and memory holds one chunk at a time: a 100k-employee session is a few dozen statements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection as default_connection
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, Max, Sum

from recalc.tables import EMPLOYEE_TOTALS, REVISION_PLAN
from sessions_app.models import (
    CardTransaction,
    EmployeeRevision,
    ProcessingSession,
    ReceiptLine,
    ReceiptVersion,
)
from sessions_app.reconciliation import classify
from sessions_app.versions import effective_receipt_version_numbers

CHUNK_SIZE = 5000
DIFF_ROWS_KEPT = 5000
PROBLEMS_KEPT = 1000
NEXT_DELTA_IDS_KEPT = 1000
# The largest amount a revision holds (numeric(14, 2)), in cents.
MAX_CENTS = 10 ** EmployeeRevision._meta.get_field("car_amount").max_digits - 1
RESOLVED = EmployeeRevision.Status.RESOLVED

ProgressCallback = Callable[[int], None]


def cents_to_amount(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _q(connection: BaseDatabaseWrapper, name: str) -> str:
    return connection.ops.quote_name(name)


# --- Stage 3: totals per employee -------------------------------------------------------------


@dataclass(frozen=True)
class SessionTotals:
    employees: int
    card_lines: int
    receipt_lines: int
    fingerprint: tuple[Any, ...]


def effective_receipt_version_ids(
    session: ProcessingSession, receipt_version: ReceiptVersion | None
) -> list[int]:
    numbers = effective_receipt_version_numbers(session, including=receipt_version)
    return list(
        ReceiptVersion.objects.filter(session=session, version__in=numbers).values_list(
            "pk", flat=True
        )
    )


def revisions_fingerprint(session: ProcessingSession) -> tuple[Any, ...]:
    """Changes when anyone writes a revision (a resolution bumps its version)."""
    figures = EmployeeRevision.objects.filter(session=session).aggregate(
        n=Count("pk"), versions=Sum("version"), last=Max("updated_at")
    )
    return (figures["n"], figures["versions"] or 0, figures["last"])


def employee_totals_build(
    session: ProcessingSession,
    *,
    receipt_version: ReceiptVersion | None,
    connection: BaseDatabaseWrapper = default_connection,
) -> SessionTotals:
    """Stage 3: every employee of the session (card lines, receipt lines in effect, or an
    existing revision) with their totals and their revision as it stands, numbered in
    employee-id order, in EMPLOYEE_TOTALS: one pass over the lines, and stage 4 reads
    this table alone."""
    fingerprint = revisions_fingerprint(session)
    version_ids = effective_receipt_version_ids(session, receipt_version)
    sql, params = _totals_sql(connection, session.pk, version_ids)
    EMPLOYEE_TOTALS.create(connection)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # 100k groups do not fit the default 4 MB: the aggregate would spill to disk.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, params)
        totals = _q(connection, EMPLOYEE_TOTALS.name)
        cursor.execute(
            "SELECT COUNT(*), COALESCE(SUM(card_lines), 0), "  # noqa: S608 - identifiers only
            f"COALESCE(SUM(receipt_lines), 0) FROM {totals}"
        )
        employees, card_lines, receipt_lines = cursor.fetchone()
    return SessionTotals(int(employees), int(card_lines), int(receipt_lines), fingerprint)


# Money is integer cents, exact on every database (SQLite keeps decimals as floating point).
_CENTS = "CAST(ROUND({} * 100) AS bigint)"
# EMPLOYEE_TOTALS's line columns, as card and receipt lines fill them, and how they add up.
_LINE_COLUMNS = {
    "card_cents": ("SUM", _CENTS.format("amount"), "0"),
    "card_name": ("MAX", "NULLIF(employee_name, '')", "NULL"),
    "card_lines": ("SUM", "1", "0"),
    "receipt_cents": ("SUM", "0", _CENTS.format("amount")),
    "receipt_name": ("MAX", "NULL", "NULLIF(employee_name, '')"),
    "receipt_lines": ("SUM", "0", "1"),
}
# Its revision columns, from the stored revision `r`.
_REVISION_COLUMNS = {
    "revision_id": "r.id",
    "old_name": "r.employee_name",
    "old_car_cents": _CENTS.format("r.car_amount"),
    "old_receipt_cents": _CENTS.format("r.receipt_amount"),
    "old_status": "r.status",
    "old_has_card_lines": "CAST(r.has_card_lines AS integer)",
    "old_resolution_note": "r.resolution_note",
    "exported_car_cents": _CENTS.format("r.exported_car_amount"),
    "exported_receipt_cents": _CENTS.format("r.exported_receipt_amount"),
}


def _totals_sql(
    connection: BaseDatabaseWrapper, session_id: int, version_ids: list[int]
) -> tuple[str, list[Any]]:
    """One INSERT … SELECT. The card lines and the receipt lines in effect, stacked, are added
    up per employee (narrow rows: the grouping is most of the work); the totals are then
    matched with the stored revisions, and revisions whose employee has no line left follow.
    Identifiers come from the models, values are parameters."""
    assert list(EMPLOYEE_TOTALS.column_names[2:]) == [*_LINE_COLUMNS, *_REVISION_COLUMNS]
    card = _q(connection, CardTransaction._meta.db_table)
    receipt = _q(connection, ReceiptLine._meta.db_table)
    revision = _q(connection, EmployeeRevision._meta.db_table)
    card_values = ", ".join(f"{value} AS {name}" for name, (_, value, _) in _LINE_COLUMNS.items())
    sources = [f"SELECT employee_id, {card_values} FROM {card} WHERE session_id = %s"]  # noqa: S608
    params: list[Any] = [session_id]
    if version_ids:
        receipt_values = ", ".join(value for _, _, value in _LINE_COLUMNS.values())
        placeholders = ", ".join(["%s"] * len(version_ids))
        sources.append(
            f"SELECT employee_id, {receipt_values} FROM {receipt} "  # noqa: S608
            f"WHERE session_id = %s AND receipt_version_id IN ({placeholders})"
        )
        params += [session_id, *version_ids]
    added_up = ", ".join(f"{how}({name}) AS {name}" for name, (how, _, _) in _LINE_COLUMNS.items())
    line_names = ", ".join(f"t.{name}" for name in _LINE_COLUMNS)
    no_lines = ", ".join("NULL" if how == "MAX" else "0" for how, _, _ in _LINE_COLUMNS.values())
    revision_values = ", ".join(_REVISION_COLUMNS.values())
    names = ", ".join(_q(connection, name) for name in EMPLOYEE_TOTALS.column_names)
    sql = (
        f"WITH totals AS (SELECT employee_id, {added_up} "  # noqa: S608 - identifiers only
        f"FROM ({' UNION ALL '.join(sources)}) lines GROUP BY employee_id) "
        f"INSERT INTO {_q(connection, EMPLOYEE_TOTALS.name)} ({names}) "
        "SELECT ROW_NUMBER() OVER (ORDER BY employee_id), employees.* FROM ("
        f"SELECT t.employee_id, {line_names}, {revision_values} FROM totals t "
        f"LEFT JOIN {revision} r ON r.session_id = %s AND r.employee_id = t.employee_id "
        f"UNION ALL SELECT r.employee_id, {no_lines}, {revision_values} FROM {revision} r "
        "WHERE r.session_id = %s "
        "AND NOT EXISTS (SELECT 1 FROM totals t WHERE t.employee_id = r.employee_id)"
        ") employees"
    )
    return sql, [*params, session_id, session_id]


# --- Stage 4: compare & classify --------------------------------------------------------------


class EmployeeState(NamedTuple):
    """One employee as the totals and the stored revision (if any) have it."""

    employee_id: str
    card_cents: int
    card_name: str | None
    card_lines: int
    receipt_cents: int
    receipt_name: str | None
    receipt_lines: int
    revision_id: int | None
    old_name: str | None
    old_car_cents: int | None
    old_receipt_cents: int | None
    old_status: str | None
    old_has_card_lines: bool | None
    old_resolution_note: str | None
    exported_car_cents: int | None
    exported_receipt_cents: int | None


class PlannedRevision(NamedTuple):
    """A revision to create (revision_id None) or change, in REVISION_PLAN's column order
    after `seq`."""

    revision_id: int | None
    employee_id: str
    employee_name: str
    car_amount: Decimal
    receipt_amount: Decimal
    difference: Decimal
    status: str
    has_card_lines: bool
    amount_changed: bool
    receipt_version_processed: int | None
    clears_resolution: bool


class Decision(NamedTuple):
    change: str  # new / changed / removed / unchanged / error
    planned: PlannedRevision | None
    problem: str = ""


def _money_problem(state: EmployeeState) -> str:
    """Amounts a revision cannot hold: that employee is reported, the others applied."""
    largest = abs(state.card_cents) + abs(state.receipt_cents)
    if largest <= MAX_CENTS:  # the usual case, decided without building anything
        return ""
    figures = {
        "card total": state.card_cents,
        "receipts total": state.receipt_cents,
        "difference": state.receipt_cents - state.card_cents,
    }
    for label, cents in figures.items():
        if abs(cents) > MAX_CENTS:
            return (
                f"{label} {cents_to_amount(cents):,} is beyond the largest amount a revision "
                f"holds ({cents_to_amount(MAX_CENTS):,}); this employee was left as it was."
            )
    return ""


def employee_decide(
    state: EmployeeState, *, tolerance: Decimal, processed_version: int | None
) -> Decision:
    """The rules of SPEC §5 for one employee, and whether their revision must be written."""
    problem = _money_problem(state)
    if problem:
        return Decision("error", None, problem)
    has_card_lines = state.card_lines > 0
    # The rules read the same in cents (tolerance scaled alike): amounts become Decimal only
    # for the revisions that are written, most of a reprocess's employees are not.
    status = classify(
        car_amount=state.card_cents,
        receipt_amount=state.receipt_cents,
        tolerance=tolerance.scaleb(2),
        has_card_lines=has_card_lines,
    )
    # SPEC §4: the statement's name wins; receipts only for employees without card lines.
    name = state.card_name or state.receipt_name or state.old_name or ""
    if state.revision_id is None:
        car, receipt = cents_to_amount(state.card_cents), cents_to_amount(state.receipt_cents)
        planned = PlannedRevision(
            None, state.employee_id, name, car, receipt, receipt - car, status,
            has_card_lines, False, processed_version, False,
        )  # fmt: skip
        return Decision("new", planned)
    amounts_changed = (state.old_car_cents, state.old_receipt_cents) != (
        state.card_cents,
        state.receipt_cents,
    )
    # A resolution holds only while the amounts it was made on are unchanged.
    keeps_resolution = state.old_status == RESOLVED and not amounts_changed
    status = RESOLVED if keeps_resolution else status
    clears_resolution = not keeps_resolution and bool(state.old_resolution_note)
    change = _change_kind(state, amounts_changed=amounts_changed, status=status)
    visible = (
        amounts_changed
        or clears_resolution
        or (status, name, has_card_lines)
        != (state.old_status, state.old_name, bool(state.old_has_card_lines))
    )
    if not visible:
        return Decision(change, None)
    car, receipt = cents_to_amount(state.card_cents), cents_to_amount(state.receipt_cents)
    planned = PlannedRevision(
        state.revision_id, state.employee_id, name, car, receipt, receipt - car, status,
        has_card_lines, amounts_changed, processed_version, clears_resolution,
    )  # fmt: skip
    return Decision(change, planned)


def _change_kind(state: EmployeeState, *, amounts_changed: bool, status: str) -> str:
    if amounts_changed and not (state.card_lines or state.receipt_lines):
        return "removed"
    if amounts_changed or status != state.old_status:
        return "changed"
    return "unchanged"


def diff_row(state: EmployeeState, decision: Decision) -> dict[str, Any]:
    """One line of the preview: old → new and Δ, as strings (JSON keeps no Decimal)."""
    new_car, new_receipt = state.card_cents, state.receipt_cents
    old_car, old_receipt = state.old_car_cents, state.old_receipt_cents
    planned = decision.planned

    def text(cents: int | None) -> str | None:
        return None if cents is None else str(cents_to_amount(cents))

    return {
        "employee_id": state.employee_id,
        "employee_name": planned.employee_name if planned else (state.old_name or ""),
        "change": decision.change,
        "old_car_amount": text(old_car),
        "new_car_amount": text(new_car),
        "old_receipt_amount": text(old_receipt),
        "new_receipt_amount": text(new_receipt),
        "delta_car_amount": text(new_car - (old_car or 0)),
        "delta_receipt_amount": text(new_receipt - (old_receipt or 0)),
        "old_status": state.old_status,
        "new_status": planned.status if planned else state.old_status,
        "error": decision.problem or None,
    }


@dataclass
class RevisionPlan:
    """What applying the recalculation will do. The rows themselves wait in REVISION_PLAN on
    the connection that built it; `connection_key` and `fingerprint` say whether they can
    still be trusted when the apply starts."""

    employees: int = 0
    rows: int = 0
    chunk_size: int = CHUNK_SIZE
    counts: dict[str, int] = field(
        default_factory=lambda: {"new": 0, "changed": 0, "removed": 0, "unchanged": 0}
    )
    diff: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    problem_count: int = 0
    next_delta: dict[str, Any] | None = None
    fingerprint: tuple[Any, ...] = ()
    connection_key: int = 0
    # Per apply batch, which writes it holds ("create", "change"): the apply skips the
    # statements a batch does not need (an initial run changes nothing, a rerun creates none).
    batches: dict[int, set[str]] = field(default_factory=dict)

    def add_rows(self, rows: list[PlannedRevision]) -> list[tuple[Any, ...]]:
        """Number the rows for REVISION_PLAN and note which batches they fall in."""
        first = self.rows
        numbered = [(first + offset, *row) for offset, row in enumerate(rows)]
        self.rows += len(rows)
        # Batch by batch (a call's rows span at most a few), not row by row.
        for batch in range(first // self.chunk_size, (self.rows - 1) // self.chunk_size + 1):
            start = max(batch * self.chunk_size - first, 0)
            part = rows[start : (batch + 1) * self.chunk_size - first]
            kinds = {"create" if row.revision_id is None else "change" for row in part}
            self.batches.setdefault(batch, set()).update(kinds)
        return numbered

    def summary(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "employees": self.diff,
            "truncated": sum(self.counts.values()) - self.counts["unchanged"] > len(self.diff),
            "errors": self.problem_count,
        }


def connection_key(connection: BaseDatabaseWrapper) -> int:
    """Identifies the physical connection: scratch tables live and die with it."""
    return id(connection.connection)


def revision_plan_build(
    session: ProcessingSession,
    *,
    totals: SessionTotals,
    processed_version: int | None,
    on_chunk: ProgressCallback,
    with_next_delta: bool = False,
    connection: BaseDatabaseWrapper = default_connection,
) -> RevisionPlan:
    """Stage 4: decide every employee, chunk by chunk, into REVISION_PLAN."""
    plan = RevisionPlan(employees=totals.employees, chunk_size=CHUNK_SIZE)
    plan.fingerprint = totals.fingerprint
    plan.next_delta = (
        {"new": 0, "changed": 0, "total_amount": "0.00", "employee_ids": []}
        if with_next_delta
        else None
    )
    REVISION_PLAN.create(connection)
    for first in range(1, totals.employees + 1, plan.chunk_size):
        states = _states_read(connection, first, first + plan.chunk_size - 1)
        planned_rows = [
            _plan_one(plan, state, tolerance=session.tolerance, processed=processed_version)
            for state in states
        ]
        REVISION_PLAN.load(
            connection, plan.add_rows([row for row in planned_rows if row is not None])
        )
        on_chunk(min(first + plan.chunk_size - 1, totals.employees))
    if any("change" in kinds for kinds in plan.batches.values()):
        REVISION_PLAN.analyze(connection)  # the apply joins it to the revisions
    plan.connection_key = connection_key(connection)
    return plan


def _plan_one(
    plan: RevisionPlan, state: EmployeeState, *, tolerance: Decimal, processed: int | None
) -> PlannedRevision | None:
    try:
        decision = employee_decide(state, tolerance=tolerance, processed_version=processed)
    except Exception as exc:  # one employee's bad data must not stop the others
        decision = Decision("error", None, f"could not be recalculated: {exc}")
    if decision.change == "error":
        plan.problem_count += 1
        if len(plan.problems) < PROBLEMS_KEPT:
            plan.problems.append({"employee_id": state.employee_id, "error": decision.problem})
    else:
        plan.counts[decision.change] += 1
    if decision.change != "unchanged" and len(plan.diff) < DIFF_ROWS_KEPT:
        plan.diff.append(diff_row(state, decision))
    if plan.next_delta is not None:
        _next_delta_add(plan.next_delta, state, decision)
    return decision.planned


def _next_delta_add(delta: dict[str, Any], state: EmployeeState, decision: Decision) -> None:
    """Count what the next delta pVault export would send, with the model's own rule."""
    planned = decision.planned
    if planned is None and state.revision_id is None:
        return
    exported_car, exported_receipt = state.exported_car_cents, state.exported_receipt_cents
    after = EmployeeRevision(
        status=planned.status if planned else (state.old_status or ""),
        car_amount=planned.car_amount if planned else cents_to_amount(state.old_car_cents or 0),
        receipt_amount=(
            planned.receipt_amount if planned else cents_to_amount(state.old_receipt_cents or 0)
        ),
        exported_car_amount=None if exported_car is None else cents_to_amount(exported_car),
        exported_receipt_amount=(
            None if exported_receipt is None else cents_to_amount(exported_receipt)
        ),
    )
    if after.change not in ("new", "changed"):
        return
    delta[after.change] += 1
    delta["total_amount"] = str(Decimal(delta["total_amount"]) + after.car_amount)
    if len(delta["employee_ids"]) < NEXT_DELTA_IDS_KEPT:
        delta["employee_ids"].append(state.employee_id)


def _states_read(connection: BaseDatabaseWrapper, first: int, last: int) -> list[EmployeeState]:
    columns = ", ".join(EMPLOYEE_TOTALS.column_names[1:])  # EmployeeState's order
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {_q(connection, EMPLOYEE_TOTALS.name)} "  # noqa: S608
            "WHERE seq BETWEEN %s AND %s ORDER BY seq",
            [first, last],
        )
        return [EmployeeState(*row) for row in cursor.fetchall()]
