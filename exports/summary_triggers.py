"""The database triggers that keep `SessionChangeSummary` exact.

Every statement that inserts, updates or deletes revisions moves each employee it touches
from one change kind to another (new / changed / unchanged / not_ready, the definition of
`exports.selectors.change_kind_expression`); the triggers add those moves to the session's
summary row in the same statement, so the summary commits and rolls back with the write.

- PostgreSQL: one trigger call per statement, over its transition tables (a 100k-employee
  export adds one grouped aggregate, not 100k calls). Each statement's sessions are
  updated in session order, and writers lock the session row first anyway.
- SQLite (small installs): per row, only when a column the kind depends on changes.

Amounts are kept in integer cents: exact on both databases (SQLite holds decimals as
floating point). Every identifier in the SQL below is a constant of this module: no input
reaches it. Migrations call `install`, `remove` and `rebuild`; a migration that
rebuilds the revisions table on SQLite drops its triggers and must call `install` again
(tests/exports/test_change_summary.py checks they are there)."""

from __future__ import annotations

from typing import Any

REVISIONS = "sessions_app_employeerevision"
SUMMARY = "exports_sessionchangesummary"
KINDS = ("new", "changed", "unchanged", "not_ready")
READY = ("matched", "resolved")
# What the kind depends on: an update touching none of these moves nobody.
KIND_COLUMNS = (
    "session_id",
    "status",
    "car_amount",
    "receipt_amount",
    "exported_car_amount",
    "exported_receipt_amount",
)
SUMMARY_COLUMNS = [f"{kind}_{figure}" for kind in KINDS for figure in ("count", "cents")]
POSTGRESQL_TRIGGERS = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}


def kind_sql(row: str) -> str:
    """SQL twin of `EmployeeRevision.change` over the columns of `row`."""
    ready = ", ".join(f"'{status}'" for status in READY)
    return (
        f"CASE WHEN {row}.status NOT IN ({ready}) THEN 'not_ready' "
        f"WHEN {row}.exported_car_amount IS NULL THEN 'new' "
        f"WHEN {row}.car_amount = {row}.exported_car_amount "
        f"AND {row}.receipt_amount = {row}.exported_receipt_amount THEN 'unchanged' "
        "ELSE 'changed' END"
    )


def cents_sql(row: str) -> str:
    return f"CAST(ROUND({row}.car_amount * 100) AS BIGINT)"


# --- PostgreSQL --------------------------------------------------------------------------------


def _moves(source: str, sign: int) -> str:
    """The rows of `source` counted and totalled per session and kind, with `sign`: grouped
    first, so that each row costs one CASE and one addition."""
    return (
        f"SELECT r.session_id, {kind_sql('r')} AS kind, {sign} * COUNT(*) AS n, "  # noqa: S608
        f"{sign} * SUM(r.car_amount) AS amount FROM {source} r GROUP BY 1, 2"
    )


def _deltas(*moves: str) -> str:
    """Per session, the change of every summary column, sessions without any left out."""
    figures = ", ".join(
        f"COALESCE(SUM(n) FILTER (WHERE kind = '{kind}'), 0) AS {kind}_count, "
        f"CAST(COALESCE(SUM(amount) FILTER (WHERE kind = '{kind}'), 0) * 100 AS BIGINT) "
        f"AS {kind}_cents"
        for kind in KINDS
    )
    moved = " UNION ALL ".join(moves)
    changed = " OR ".join(f"{column} <> 0" for column in SUMMARY_COLUMNS)
    return (
        f"SELECT * FROM (SELECT session_id, {figures} FROM ({moved}) AS moves "  # noqa: S608
        f"GROUP BY session_id) AS deltas WHERE {changed}"
    )


def _upsert(deltas: str) -> str:
    columns = ", ".join(SUMMARY_COLUMNS)
    added = ", ".join(f"{column} = s.{column} + EXCLUDED.{column}" for column in SUMMARY_COLUMNS)
    return (
        f"INSERT INTO {SUMMARY} AS s (session_id, {columns}) "  # noqa: S608
        f"SELECT session_id, {columns} FROM ({deltas}) AS d ORDER BY session_id "
        f"ON CONFLICT (session_id) DO UPDATE SET {added}"
    )


def _subtract(deltas: str) -> str:
    """Deletes only update existing rows: a session deleted with its revisions (and its
    summary) must not get a summary row back."""
    added = ", ".join(f"{column} = s.{column} + d.{column}" for column in SUMMARY_COLUMNS)
    return (
        f"UPDATE {SUMMARY} AS s SET {added} "  # noqa: S608
        f"FROM ({deltas} ORDER BY session_id) AS d WHERE s.session_id = d.session_id"
    )


def postgresql() -> list[str]:
    inserted = _upsert(_deltas(_moves("new_rows", 1)))
    updated = _upsert(_deltas(_moves("new_rows", 1), _moves("old_rows", -1)))
    deleted = _subtract(_deltas(_moves("old_rows", -1)))
    function = f"""CREATE OR REPLACE FUNCTION exports_change_summary_moved() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN {inserted};
            ELSIF TG_OP = 'UPDATE' THEN {updated};
            ELSE {deleted};
            END IF;
            RETURN NULL;
        END $$"""
    triggers = [
        f"""CREATE TRIGGER exports_change_summary_{event.lower()} AFTER {event} ON {REVISIONS}
        {transition} FOR EACH STATEMENT EXECUTE FUNCTION exports_change_summary_moved()"""
        for event, transition in POSTGRESQL_TRIGGERS.items()
    ]
    return [function, *triggers]


def postgresql_removed() -> list[str]:
    return [
        *(
            f"DROP TRIGGER IF EXISTS exports_change_summary_{event.lower()} ON {REVISIONS}"
            for event in POSTGRESQL_TRIGGERS
        ),
        "DROP FUNCTION IF EXISTS exports_change_summary_moved()",
    ]


# --- SQLite ------------------------------------------------------------------------------------


def _sqlite_move(row: str, sign: str) -> str:
    """One revision's row moving in (+) or out (-) of its session's summary."""
    moved = ", ".join(
        f"{kind}_count = {kind}_count {sign} ({kind_sql(row)} = '{kind}'), "
        f"{kind}_cents = {kind}_cents {sign} ({kind_sql(row)} = '{kind}') * {cents_sql(row)}"
        for kind in KINDS
    )
    return f"UPDATE {SUMMARY} SET {moved} WHERE session_id = {row}.session_id;"  # noqa: S608


def _sqlite_row(row: str) -> str:
    zeros = ", ".join("0" for _ in SUMMARY_COLUMNS)
    return (
        f"INSERT OR IGNORE INTO {SUMMARY} (session_id, {', '.join(SUMMARY_COLUMNS)}) "  # noqa: S608
        f"VALUES ({row}.session_id, {zeros});"
    )


def sqlite() -> list[str]:
    changed = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in KIND_COLUMNS)
    return [
        f"""CREATE TRIGGER exports_change_summary_insert AFTER INSERT ON {REVISIONS}
        BEGIN {_sqlite_row("NEW")} {_sqlite_move("NEW", "+")} END""",
        f"""CREATE TRIGGER exports_change_summary_update
        AFTER UPDATE OF {", ".join(KIND_COLUMNS)} ON {REVISIONS} WHEN {changed}
        BEGIN {_sqlite_move("OLD", "-")} {_sqlite_row("NEW")} {_sqlite_move("NEW", "+")} END""",
        f"""CREATE TRIGGER exports_change_summary_delete AFTER DELETE ON {REVISIONS}
        BEGIN {_sqlite_move("OLD", "-")} END""",
    ]


def sqlite_removed() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS exports_change_summary_{event.lower()}"
        for event in POSTGRESQL_TRIGGERS
    ]


# --- Migrations ------------------------------------------------------------------------------


def _run(schema_editor: Any, statements: list[str]) -> None:
    for statement in statements:
        schema_editor.execute(statement, params=None)


def install(schema_editor: Any) -> None:
    """(Re)creates the triggers; run `rebuild` after it if revisions were written while
    they were missing."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, [*postgresql_removed(), *postgresql()])
    elif vendor == "sqlite":
        _run(schema_editor, [*sqlite_removed(), *sqlite()])


def remove(schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, postgresql_removed())
    elif vendor == "sqlite":
        _run(schema_editor, sqlite_removed())


def rebuild_sql() -> list[str]:
    """Every session's summary computed again from its revisions (portable SQL)."""
    figures = ", ".join(
        f"SUM(CASE WHEN kind = '{kind}' THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN kind = '{kind}' THEN cents ELSE 0 END)"
        for kind in KINDS
    )
    return [
        f"DELETE FROM {SUMMARY}",  # noqa: S608
        f"INSERT INTO {SUMMARY} (session_id, {', '.join(SUMMARY_COLUMNS)}) "  # noqa: S608
        f"SELECT session_id, {figures} FROM (SELECT r.session_id, {kind_sql('r')} AS kind, "
        f"{cents_sql('r')} AS cents FROM {REVISIONS} r) AS kinds GROUP BY session_id",
    ]


def rebuild(schema_editor: Any) -> None:
    _run(schema_editor, rebuild_sql())
