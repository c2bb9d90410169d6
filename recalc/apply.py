"""Writing a revision plan: set-based statements per fixed-size batch, each revision and its
complete django-simple-history row together.

Django's bulk_update sends one CASE per field and row and takes ~16 s for 30k of 100k
revisions on PostgreSQL; here each batch is one UPDATE … FROM the plan table, one
INSERT … SELECT for new revisions and one INSERT … SELECT for their history rows, copied
from the revisions as written (every tracked field, the job's user, the change reason and
the history type), so the history is exactly what simple-history would have stored. The same
SQL runs on PostgreSQL and SQLite (UPDATE … FROM since SQLite 3.33). Call it inside the
apply transaction."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

from recalc.engine import RevisionPlan
from recalc.tables import REVISION_PLAN
from sessions_app.models import EmployeeRevision

HistoricalEmployeeRevision = EmployeeRevision.history.model  # type: ignore[attr-defined]
REVISION = "{revision}"  # the revision table, quoted, in the expressions below

# How each column of a changed revision is written. Export snapshot fields are the export's
# business and stay as they are; the previous amounts are the ones before this statement.
UPDATE_EXPRESSIONS = {
    "employee_name": "p.employee_name",
    "car_amount": "p.car_amount",
    "receipt_amount": "p.receipt_amount",
    "difference": "p.difference",
    "status": "p.status",
    "has_card_lines": "p.has_card_lines",
    "previous_car_amount": f"{REVISION}.car_amount",
    "previous_receipt_amount": f"{REVISION}.receipt_amount",
    "amount_changed": "p.amount_changed",
    "receipt_version_processed": "p.receipt_version_processed",
    "resolution_note": f"CASE WHEN p.clears_resolution THEN '' ELSE {REVISION}.resolution_note END",
    "resolved_by": f"CASE WHEN p.clears_resolution THEN NULL ELSE {REVISION}.resolved_by_id END",
    "resolved_at": f"CASE WHEN p.clears_resolution THEN NULL ELSE {REVISION}.resolved_at END",
    "version": f"{REVISION}.version + 1",
    "updated_at": "%(now)s",
}
KEPT_ON_UPDATE = {
    "id",
    "session",
    "employee_id",
    "exported_car_amount",
    "exported_receipt_amount",
    "last_export_batch",
    "exported_at",
}
INSERT_EXPRESSIONS = {
    "session": "%(session)s",
    "employee_id": "p.employee_id",
    "employee_name": "p.employee_name",
    "car_amount": "p.car_amount",
    "receipt_amount": "p.receipt_amount",
    "difference": "p.difference",
    "status": "p.status",
    "has_card_lines": "p.has_card_lines",
    "previous_car_amount": "NULL",
    "previous_receipt_amount": "NULL",
    "amount_changed": "p.amount_changed",
    "receipt_version_processed": "p.receipt_version_processed",
    "resolution_note": "''",
    "resolved_by": "NULL",
    "resolved_at": "NULL",
    "exported_car_amount": "NULL",
    "exported_receipt_amount": "NULL",
    "last_export_batch": "NULL",
    "exported_at": "NULL",
    "version": "1",
    "updated_at": "%(now)s",
}
HISTORY_FIELDS = {"history_date", "history_user", "history_change_reason", "history_type"}


def fields_not_written() -> dict[str, set[str]]:
    """Model fields the statements would forget; empty unless someone added a field to
    EmployeeRevision without teaching this module how to write it (a test keeps it empty)."""
    revision_fields = {f.name for f in EmployeeRevision._meta.concrete_fields}
    history_fields = {f.name for f in HistoricalEmployeeRevision._meta.concrete_fields}
    tracked = {name for name in history_fields if not name.startswith("history_")}
    return {
        "update": revision_fields - set(UPDATE_EXPRESSIONS) - KEPT_ON_UPDATE,
        "insert": revision_fields - set(INSERT_EXPRESSIONS) - {"id"},
        "history": history_fields - tracked - HISTORY_FIELDS - {"history_id"},
        "tracked_but_not_a_revision_column": tracked - revision_fields,
    }


def _statements(connection: BaseDatabaseWrapper) -> dict[str, str]:
    """The statements of one batch. On PostgreSQL each write and its history rows are one
    statement (a data-modifying WITH), so the history is copied from exactly the rows the
    write returned; elsewhere the history rows are selected back by employee."""
    quote_name = connection.ops.quote_name
    revision = quote_name(EmployeeRevision._meta.db_table)
    plan = quote_name(REVISION_PLAN.name)
    in_batch = "p.seq >= %(first)s AND p.seq < %(stop)s"

    def column(name: str) -> str:
        field: Any = EmployeeRevision._meta.get_field(name)
        return quote_name(field.column)

    assignments = ", ".join(
        f"{column(name)} = {expression.format(revision=revision)}"
        for name, expression in UPDATE_EXPRESSIONS.items()
    )
    update = (
        f"UPDATE {revision} SET {assignments} FROM {plan} p "  # noqa: S608
        f"WHERE {in_batch} AND p.revision_id = {revision}.id"
    )
    inserted = ", ".join(column(name) for name in INSERT_EXPRESSIONS)
    insert = (
        f"INSERT INTO {revision} ({inserted}) "  # noqa: S608 - identifiers only
        f"SELECT {', '.join(INSERT_EXPRESSIONS.values())} FROM {plan} p "
        f"WHERE {in_batch} AND p.revision_id IS NULL ORDER BY p.seq"
    )
    if connection.vendor == "postgresql":
        history_of_changed = _history_from("written", "'~'")
        history_of_created = _history_from("written", "'+'")
        return {
            "change": f"WITH written AS ({update} RETURNING {revision}.*) {history_of_changed}",
            "create": f"WITH written AS ({insert} RETURNING *) {history_of_created}",
        }
    joined = (
        f"{plan} p JOIN {revision} r "
        "ON r.session_id = %(session)s AND r.employee_id = p.employee_id "
        f"WHERE {in_batch}"
    )
    history_type = "CASE WHEN p.revision_id IS NULL THEN '+' ELSE '~' END"
    return {
        "change": update,
        "create": insert,
        "history": _history_from(joined, history_type, alias="r"),
    }


def _history_from(source: str, history_type: str, *, alias: str = "") -> str:
    """INSERT of one history row per row of `source`: every tracked field as written, the
    job's user, the change reason and the history type ('+' created, '~' changed)."""
    history = HistoricalEmployeeRevision._meta.db_table
    tracked = [
        f.column
        for f in HistoricalEmployeeRevision._meta.concrete_fields
        if not f.name.startswith("history_")
    ]
    extra = ["history_date", "history_user_id", "history_change_reason", "history_type"]
    prefix = f"{alias}." if alias else ""
    columns = ", ".join(f'"{name}"' for name in tracked + extra)
    selected = [f'{prefix}"{name}"' for name in tracked]
    values = ", ".join([*selected, "%(now)s", "%(user)s", "%(reason)s", history_type])
    return (
        f'INSERT INTO "{history}" ({columns}) SELECT {values} FROM {source} '  # noqa: S608
        f'ORDER BY {prefix}"employee_id"'
    )


def revision_plan_apply(
    plan: RevisionPlan,
    *,
    session_id: int,
    actor_id: int | None,
    change_reason: str,
    on_chunk: Callable[[int], None],
    now: datetime.datetime,
    connection: BaseDatabaseWrapper = default_connection,
) -> None:
    """Write the plan batch by batch (progress and cancel are checked between batches)."""
    statements = _statements(connection)
    moment = connection.ops.adapt_datetimefield_value(now)
    params = {"session": session_id, "now": moment, "user": actor_id, "reason": change_reason}
    with connection.cursor() as cursor:
        for number, kinds in sorted(plan.batches.items()):
            first = number * plan.chunk_size
            batch = {**params, "first": first, "stop": first + plan.chunk_size}
            for kind in ("change", "create", "history"):
                if kind in statements and (kind in kinds or kind == "history"):
                    cursor.execute(statements[kind], batch)
            on_chunk(min(first + plan.chunk_size, plan.rows))
