"""Scratch tables of a recalculation and the fastest way to fill them on each database.

A recalculation stages its per-employee totals and its plan in temporary tables of the
worker's own database connection, so a 100k-employee session never sits in Python memory
and the writes are a few set-based statements. On PostgreSQL rows are loaded with COPY;
elsewhere (SQLite) with one executemany per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from core.bulk import copy_rows


@dataclass(frozen=True)
class ScratchTable:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, portable SQL type)
    primary_key: str = ""

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def create(self, connection: BaseDatabaseWrapper) -> None:
        """(Re)create the table on this connection; an older copy left by an earlier job on
        a reused connection is dropped first."""
        quote = connection.ops.quote_name
        columns = [f"{quote(name)} {sql_type}" for name, sql_type in self.columns]
        if self.primary_key:
            columns.append(f"PRIMARY KEY ({quote(self.primary_key)})")
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {quote(self.name)}")
            cursor.execute(f"CREATE TEMPORARY TABLE {quote(self.name)} ({', '.join(columns)})")

    def drop(self, connection: BaseDatabaseWrapper) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(self.name)}")

    def load(self, connection: BaseDatabaseWrapper, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows (values in column order)."""
        if not rows:
            return
        quote = connection.ops.quote_name
        names = ", ".join(quote(name) for name in self.column_names)
        if connection.vendor == "postgresql":
            copy_rows(connection, f"COPY {quote(self.name)} ({names}) FROM STDIN", rows)
            return
        placeholders = ", ".join(["%s"] * len(self.columns))
        table = quote(self.name)
        insert = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.executemany(insert, rows)

    def analyze(self, connection: BaseDatabaseWrapper) -> None:
        """Temporary tables get no statistics from autovacuum; without them PostgreSQL
        plans the joins for a table of one page."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(self.name)}")


EMPLOYEE_TOTALS = ScratchTable(
    name="recalc_employee_totals",
    columns=(
        ("seq", "integer NOT NULL"),
        ("employee_id", "varchar(100) NOT NULL"),
        ("card_cents", "bigint NOT NULL"),
        ("card_name", "varchar(200) NULL"),
        ("card_lines", "integer NOT NULL"),
        ("receipt_cents", "bigint NOT NULL"),
        ("receipt_name", "varchar(200) NULL"),
        ("receipt_lines", "integer NOT NULL"),
        ("revision_id", "bigint NULL"),
        ("old_name", "varchar(200) NULL"),
        ("old_car_cents", "bigint NULL"),
        ("old_receipt_cents", "bigint NULL"),
        ("old_status", "varchar(20) NULL"),
        ("old_has_card_lines", "integer NULL"),
        ("old_resolution_note", "text NULL"),
        ("exported_car_cents", "bigint NULL"),
        ("exported_receipt_cents", "bigint NULL"),
    ),
    primary_key="seq",
)

# One row per revision to create (revision_id NULL) or change, numbered from 0 by `seq` so
# the apply takes fixed-size batches by primary-key range.
REVISION_PLAN = ScratchTable(
    name="recalc_revision_plan",
    columns=(
        ("seq", "integer NOT NULL"),
        ("revision_id", "bigint NULL"),
        ("employee_id", "varchar(100) NOT NULL"),
        ("employee_name", "varchar(200) NOT NULL"),
        ("car_amount", "numeric(14, 2) NOT NULL"),
        ("receipt_amount", "numeric(14, 2) NOT NULL"),
        ("difference", "numeric(14, 2) NOT NULL"),
        ("status", "varchar(20) NOT NULL"),
        ("has_card_lines", "boolean NOT NULL"),
        ("amount_changed", "boolean NOT NULL"),
        ("receipt_version_processed", "integer NULL"),
        ("clears_resolution", "boolean NOT NULL"),
    ),
    primary_key="seq",
)

SCRATCH_TABLES = (EMPLOYEE_TOTALS, REVISION_PLAN)


def scratch_tables_drop(connection: BaseDatabaseWrapper) -> None:
    for table in SCRATCH_TABLES:
        table.drop(connection)
