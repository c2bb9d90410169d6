"""Set-based writes behind an export: its lines, the export snapshots, their history.

The export snapshot on EmployeeRevision is what pVault holds for each employee. Only two
things move it, both from the ExportLines of one batch, so the snapshot and the sum of
marked adjustments cannot drift apart:
- marking lines (at generation or later) sets it to the line's amounts;
- voiding a batch puts back what each marked line recorded as the previous snapshot.
Every move writes one history row per employee with the actor and a change reason.

Each step is ONE statement whatever the number of employees (INSERT … SELECT,
UPDATE … FROM): a 100k-employee export is a handful of statements, not 300k ORM objects.
UPDATE … FROM is standard in PostgreSQL and in SQLite since 3.33.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DateTimeField,
    F,
    IntegerField,
    Max,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from core.history import actor_or_none
from exports.models import ExportBatch, ExportLine
from exports.selectors import money_field
from matching.models import UnmatchedLine
from sessions_app.models import ZERO, EmployeeRevision

REASONS = {
    EmployeeRevision.Status.MISSING_RECEIPTS: "Receipts missing for part of the card total",
    EmployeeRevision.Status.EXCESS_RECEIPTS: "Receipts exceed the card total",
    EmployeeRevision.Status.NO_CARD_ACTIVITY: "Receipts without card activity",
}


def _column(model: Any, name: str) -> str:
    """The column of a field, looked up by name or attname ("batch_id" works too)."""
    return str(model._meta.get_field(name).column)


def _insert_select_sql(model: Any, columns: list[str], select: QuerySet) -> tuple[str, Any]:
    sql, params = select.query.sql_with_params()
    quote = connection.ops.quote_name
    statement = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(map(quote, columns))}) {sql}"
    )
    return statement, params


def _insert_select(model: Any, columns: list[str], select: QuerySet) -> int:
    statement, params = _insert_select_sql(model, columns, select)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def uses_returning_path() -> bool:
    """PostgreSQL takes the one-statement paths (RETURNING, data-modifying WITH); other
    databases the portable ones, which give the same rows with more statements."""
    return connection.vendor == "postgresql"


def _money(expression: Any) -> Any:
    return Coalesce(expression, Value(ZERO), output_field=money_field())


def _line_expressions(batch: ExportBatch, *, marked_at: datetime.datetime | None) -> dict[str, Any]:
    """Each ExportLine column as an expression over the revision it is made from."""
    ready = batch.export_type == ExportBatch.ExportType.PVAULT
    had_previous = Case(
        When(exported_car_amount__isnull=True, then=Value(False)),
        default=Value(True),
        output_field=BooleanField(),
    )
    last_changed = (
        EmployeeRevision.history.filter(id=OuterRef("pk"))  # type: ignore[attr-defined]
        .order_by()
        .values("id")
        .annotate(at=Max("history_date"))
        .values("at")[:1]
    )
    return {
        "batch_id": Value(batch.pk, output_field=IntegerField()),
        "revision_id": F("pk"),
        "employee_id": F("employee_id"),
        "employee_name": F("employee_name"),
        "car_amount": F("car_amount"),
        "receipt_amount": F("receipt_amount"),
        "difference": F("difference"),
        "status": F("status"),
        # CHANGED = an update of what pVault already holds (the adjustment may be 0.00).
        "change_type": Case(
            When(exported_car_amount__isnull=True, then=Value("NEW")),
            default=Value("CHANGED"),
            output_field=CharField(),
        )
        if ready
        else Value(""),
        "reason": Value("")
        if ready
        else Case(
            *(When(status=status, then=Value(text)) for status, text in REASONS.items()),
            default=F("status"),
            output_field=CharField(),
        ),
        "last_changed_at": Value(None, output_field=DateTimeField())
        if ready
        else Subquery(last_changed, output_field=DateTimeField()),
        "previous_exported_amount": _money(F("exported_car_amount")),
        "previous_exported_receipt_amount": F("exported_receipt_amount"),
        "previous_batch_id": F("last_export_batch_id"),
        "previous_exported_at": F("exported_at"),
        "had_previous_export": had_previous,
        "adjustment_amount": (F("car_amount") - _money(F("exported_car_amount")))
        if ready
        else Value(ZERO, output_field=money_field()),
        "marked_at": Value(marked_at, output_field=DateTimeField()),
        **_unmatched_charge_expressions(ready),
    }


def _unmatched_charge_expressions(ready: bool) -> dict[str, Any]:
    """Number and amount of the employee's charges without a receipt, for an exceptions
    report (the chase list it is); nothing on a pVault line."""
    if ready:
        return {
            "unmatched_charge_count": Value(None, output_field=IntegerField()),
            "unmatched_charge_amount": Value(None, output_field=money_field()),
        }
    charges = (
        UnmatchedLine.objects.in_effect()
        .filter(
            session_id=OuterRef("session_id"),
            employee_id=OuterRef("employee_id"),
            side=UnmatchedLine.Side.CARD,
        )
        .order_by()
        .values("employee_id")
    )
    count = charges.annotate(n=Count("id")).values("n")[:1]
    amount = charges.annotate(total=Sum("amount")).values("total")[:1]
    return {
        "unmatched_charge_count": Coalesce(
            Subquery(count, output_field=IntegerField()), Value(0), output_field=IntegerField()
        ),
        "unmatched_charge_amount": _money(Subquery(amount, output_field=money_field())),
    }


def export_lines_insert(
    batch: ExportBatch,
    revisions: QuerySet[EmployeeRevision],
    *,
    marked_at: datetime.datetime | None,
) -> int:
    """The batch's lines, straight from the selected revisions, in one INSERT … SELECT."""
    expressions = _line_expressions(batch, marked_at=marked_at)
    aliases = {f"line_{column}": expression for column, expression in expressions.items()}
    select = revisions.order_by().annotate(**aliases).values_list(*aliases)
    # get_field() knows attnames too: "batch_id" is the batch foreign key's column.
    columns = [_column(ExportLine, name) for name in expressions]
    return _insert_select(ExportLine, columns, select)


def export_lines_insert_returning(
    batch: ExportBatch,
    revisions: QuerySet[EmployeeRevision],
    *,
    marked_at: datetime.datetime | None,
    fields: Sequence[str],
) -> Any:
    """PostgreSQL: `export_lines_insert` handing back `fields` of the new lines (what the
    file is written from), so 100k lines are not read again right after being written.
    Returns the cursor holding them, for the caller to fetch and close: the rows are
    already on the client, so another thread may fetch them while this connection runs
    the next statements (psycopg connections are shared by threads, one cursor each).
    Values come as the driver gives them, which on PostgreSQL is what the ORM gives too."""
    expressions = _line_expressions(batch, marked_at=marked_at)
    aliases = {f"line_{column}": expression for column, expression in expressions.items()}
    select = revisions.order_by().annotate(**aliases).values_list(*aliases)
    columns = [_column(ExportLine, name) for name in expressions]
    statement, params = _insert_select_sql(ExportLine, columns, select)
    quote = connection.ops.quote_name
    returning = ", ".join(quote(_column(ExportLine, name)) for name in fields)
    cursor = connection.cursor()
    try:
        cursor.execute(f"{statement} RETURNING {returning}", params)
    except BaseException:
        cursor.close()
        raise
    return cursor


def revision_history_insert(
    revisions: QuerySet[EmployeeRevision],
    *,
    actor: Any,
    reason: str,
    when: datetime.datetime,
) -> int:
    """One '~' history row per revision, copied from its current values in SQL."""
    historical = EmployeeRevision.history.model  # type: ignore[attr-defined]
    tracked = historical.tracked_fields
    user = actor_or_none(actor)
    extra = {
        "history_date": Value(when, output_field=DateTimeField()),
        "history_change_reason": Value(reason[:100], output_field=CharField()),
        "history_type": Value("~", output_field=CharField()),
        "history_user_id": Value(user.pk if user else None, output_field=IntegerField()),
    }
    aliases = {f"history_value_{name}": expression for name, expression in extra.items()}
    select = (
        revisions.order_by()
        .annotate(**aliases)
        .values_list(*[field.attname for field in tracked], *aliases)
    )
    columns = [_column(historical, field.name) for field in tracked]
    columns += [_column(historical, name) for name in extra]
    return _insert_select(historical, columns, select)


def _update_from_lines(assignments: dict[str, str], where: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_update_from_lines_sql(assignments, where), params)
        return cursor.rowcount


def _update_from_lines_sql(assignments: dict[str, str], where: str) -> str:
    quote = connection.ops.quote_name
    revision_table = quote(EmployeeRevision._meta.db_table)
    line_table = quote(ExportLine._meta.db_table)
    column = {f.name: quote(str(f.column)) for f in EmployeeRevision._meta.concrete_fields}
    line_column = {
        f.name: f"{line_table}.{quote(str(f.column))}" for f in ExportLine._meta.concrete_fields
    }
    sets = ", ".join(
        f"{column[target]} = {source.format(**line_column)}"
        for target, source in assignments.items()
    )
    # Identifiers come from model metadata, quoted; values travel as parameters.
    statement = (
        f"UPDATE {revision_table} SET {sets} FROM {line_table} "  # noqa: S608
        f"WHERE {line_column['revision']} = {revision_table}.{column['id']} "
        f"AND {where.format(**line_column)}"
    )
    return statement


SNAPSHOT_SET = {
    "exported_car_amount": "{car_amount}",
    "exported_receipt_amount": "{receipt_amount}",
    "last_export_batch": "{batch}",
    "exported_at": "{marked_at}",
}
SNAPSHOT_RESTORE = {
    "exported_car_amount": "CASE WHEN {had_previous_export} "
    "THEN {previous_exported_amount} ELSE NULL END",
    "exported_receipt_amount": "{previous_exported_receipt_amount}",
    "last_export_batch": "{previous_batch}",
    "exported_at": "{previous_exported_at}",
}
MARKED_AT = "{batch} = %s AND {marked_at} = %s"
MARKED = "{batch} = %s AND {marked_at} IS NOT NULL"


def snapshots_set_from_lines(batch: ExportBatch, *, marked_at: datetime.datetime) -> int:
    """Employees of the lines marked at `marked_at` now hold those lines' amounts."""
    marked = connection.ops.adapt_datetimefield_value(marked_at)
    return _update_from_lines(SNAPSHOT_SET, MARKED_AT, [batch.pk, marked])


def snapshots_restore_from_lines(batch: ExportBatch) -> int:
    """Employees of the batch's marked lines get back the snapshot each line replaced
    (none at all for a NEW line)."""
    return _update_from_lines(SNAPSHOT_RESTORE, MARKED, [batch.pk])


def _update_with_history(
    assignments: dict[str, str],
    where: str,
    params: list[Any],
    *,
    actor: Any,
    reason: str,
    when: datetime.datetime,
) -> int:
    """PostgreSQL: the snapshot UPDATE and its '~' history rows in ONE statement: the
    history is inserted from the rows the UPDATE returns (their new values), so the
    100k revisions are neither joined to the lines nor scanned a second time."""
    quote = connection.ops.quote_name
    revision_table = quote(EmployeeRevision._meta.db_table)
    historical = EmployeeRevision.history.model  # type: ignore[attr-defined]
    tracked = historical.tracked_fields
    source = [quote(_column(EmployeeRevision, field.name)) for field in tracked]
    target = [quote(_column(historical, field.name)) for field in tracked]
    target += [
        quote(_column(historical, name))
        for name in ("history_date", "history_change_reason", "history_type", "history_user_id")
    ]
    returning = ", ".join(f"{revision_table}.{column}" for column in source)
    user = actor_or_none(actor)
    # Identifiers come from model metadata, quoted; values travel as parameters.
    statement = (
        f"WITH marked AS ({_update_from_lines_sql(assignments, where)} RETURNING {returning}) "  # noqa: S608
        f"INSERT INTO {quote(historical._meta.db_table)} ({', '.join(target)}) "
        f"SELECT {', '.join(source)}, %s, %s, '~', %s FROM marked"
    )
    history = [connection.ops.adapt_datetimefield_value(when), reason[:100]]
    history.append(user.pk if user else None)
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, *history])
        return cursor.rowcount


def snapshots_set_with_history(
    batch: ExportBatch, *, marked_at: datetime.datetime, actor: Any, reason: str
) -> int:
    """`snapshots_set_from_lines` and the history rows of the employees it moved (dated
    `marked_at`): one statement on PostgreSQL, two elsewhere."""
    if not uses_returning_path():
        moved = snapshots_set_from_lines(batch, marked_at=marked_at)
        revision_history_insert(
            revisions_of_lines(batch, marked_at=marked_at),
            actor=actor,
            reason=reason,
            when=marked_at,
        )
        return moved
    marked = connection.ops.adapt_datetimefield_value(marked_at)
    return _update_with_history(
        SNAPSHOT_SET, MARKED_AT, [batch.pk, marked], actor=actor, reason=reason, when=marked_at
    )


def snapshots_restore_with_history(
    batch: ExportBatch, *, actor: Any, reason: str, when: datetime.datetime
) -> int:
    """`snapshots_restore_from_lines` and the history rows of the employees it moved."""
    if not uses_returning_path():
        moved = snapshots_restore_from_lines(batch)
        revision_history_insert(
            revisions_of_lines(batch, marked_at__isnull=False),
            actor=actor,
            reason=reason,
            when=when,
        )
        return moved
    return _update_with_history(
        SNAPSHOT_RESTORE, MARKED, [batch.pk], actor=actor, reason=reason, when=when
    )


def revisions_of_lines(batch: ExportBatch, **line_filter: Any) -> QuerySet[EmployeeRevision]:
    lines = ExportLine.objects.filter(batch=batch, **line_filter).values("revision_id")
    return EmployeeRevision.objects.filter(pk__in=lines)
