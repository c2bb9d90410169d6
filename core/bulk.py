"""Bulk inserts with COPY: `lines_insert` is a drop-in for `bulk_create` used to store
statement lines at upload (the benchmark measures both); `copy_rows` streams rows into any
table, the recalculation's scratch tables included.

At 100k employees an upload stores 500k card and 500k receipt lines; `bulk_create` builds
one INSERT of 5000 rows at a time and returns their ids, which nobody reads. COPY streams
the same rows several times faster. Elsewhere (SQLite) it falls back to `bulk_create` in
batches, consuming `lines` lazily so a generator never sits whole in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain, islice
from operator import attrgetter, itemgetter
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

LINE_BATCH_SIZE = 5000

Line = Model | Mapping[str, Any]


def lines_insert(
    model: type[Model], lines: Iterable[Line], *, batch_size: int = LINE_BATCH_SIZE
) -> int:
    """Insert unsaved instances, or mappings of field attnames (`session_id`, not
    `session`: building 500k model instances costs more than writing them; the fast path
    wants every field in every mapping). Returns the number inserted; ids are not set on
    instances."""
    if connection.vendor != "postgresql":
        instances = (line if isinstance(line, Model) else model(**line) for line in lines)
        return _bulk_create_in_batches(model, instances, batch_size)
    rows = iter(lines)
    first = next(rows, None)
    if first is None:
        return 0
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    names = [f.attname for f in fields]
    values: Any
    if isinstance(first, Model):
        values = attrgetter(*names)
    elif first.keys() >= set(names):
        values = itemgetter(*names)  # every field given: the values in column order, at C speed
    else:
        defaults = {f.attname: f.get_default() for f in fields}
        values = lambda line: itemgetter(*names)({**defaults, **line})  # noqa: E731
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    counted = _Counted(map(values, chain([first], rows)))
    table = quote(model._meta.db_table)
    copy_rows(connection, f"COPY {table} ({columns}) FROM STDIN", counted)
    return counted.count


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


def _bulk_create_in_batches(model: type[Model], lines: Iterator[Model], batch_size: int) -> int:
    stored = 0
    while batch := list(islice(lines, batch_size)):
        model._default_manager.bulk_create(batch)
        stored += len(batch)
    return stored


class _Counted:
    def __init__(self, rows: Iterable[tuple[object, ...]]) -> None:
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[tuple[object, ...]]:
        for row in self._rows:
            self.count += 1
            yield row
