"""Loading many rows at once: COPY on PostgreSQL, one executemany elsewhere (SQLite)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper


def copy_rows(connection: BaseDatabaseWrapper, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    # COPY bypasses Django's cursor wrapper, so its errors are translated here: a dropped
    # connection must surface as django.db.OperationalError to be retried like any other.
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def rows_insert(
    connection: BaseDatabaseWrapper,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Append rows (values in `columns` order) to `table` (names unquoted)."""
    if not rows:
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(name) for name in columns)
    if connection.vendor == "postgresql":
        copy_rows(connection, f"COPY {quote(table)} ({names}) FROM STDIN", rows)
        return
    placeholders = ", ".join(["%s"] * len(columns))
    insert = f"INSERT INTO {quote(table)} ({names}) VALUES ({placeholders})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(insert, rows)
