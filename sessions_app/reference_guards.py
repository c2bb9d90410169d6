"""Reference guards: what a foreign key guarantees, checked per statement.

PostgreSQL checks a foreign key with one trigger call per written row. The tables Closebook
writes in bulk (half a million statement lines per upload, 100k revisions and their history
rows per recalculation) spent seconds in those calls. For them the reference is declared
with `db_constraint=False` and guarded here instead, with the same guarantees:

- rows inserted: one check per statement over its transition table, the parents they name
  locked FOR KEY SHARE as a foreign key check would lock them (a concurrent delete of a
  parent waits, then fails);
- a reference column changed: checked per row, only when its value changes (or per
  statement, for a column rewritten in bulk);
- a parent deleted: one check per statement that no row still refers to it.

SQLite (small installs) checks inserts and updates per row; it does not guard parents,
because Django's test database flush deletes tables in any order.

Migrations call `install`/`remove`: a guard's name and SQL are fixed by its arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reference:
    """`child`(`columns`) refers to `parent`(`parent_columns`); NULLs refer to nothing."""

    name: str
    child: str
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    message: str
    # A column that statements rewrite for many rows at once (an export moves 100k
    # snapshots) is checked per statement on update too, not per changed row.
    updates_per_statement: bool = False

    @property
    def _keys(self) -> str:
        return ", ".join(self.columns)

    def _not_null(self, alias: str) -> str:
        return " AND ".join(f"{alias}.{column} IS NOT NULL" for column in self.columns)

    def _joined(self, parent: str, child: str) -> str:
        return " AND ".join(
            f"{parent}.{p} = {child}.{c}"
            for p, c in zip(self.parent_columns, self.columns, strict=True)
        )

    def _changed(self) -> str:
        return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in self.columns)

    def _error(self) -> str:
        text = self.message.replace("'", "''")
        return f"RAISE foreign_key_violation USING MESSAGE = '{text}'"

    # Identifiers only, fixed by the migrations that install the guards: no user input.
    def postgresql(self) -> list[str]:
        keys = f"SELECT DISTINCT {self._keys} FROM written w WHERE {self._not_null('w')}"
        statement_check = [
            f"""CREATE FUNCTION {self.name}_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE wanted bigint; found bigint;
            BEGIN
                SELECT count(*) INTO wanted FROM ({keys}) k;
                IF wanted > 0 THEN
                    SELECT count(*) INTO found FROM (
                        SELECT 1 FROM {self.parent} p JOIN ({keys}) k ON {self._joined("p", "k")}
                        FOR KEY SHARE OF p
                    ) f;
                    IF found < wanted THEN {self._error()}; END IF;
                END IF;
                RETURN NULL;
            END $$""",
            *(
                f"""CREATE TRIGGER {self.name}_{name} AFTER {event} ON {self.child}
                REFERENCING NEW TABLE AS written
                FOR EACH STATEMENT EXECUTE FUNCTION {self.name}_inserted()"""
                for event, name in self._statement_events()
            ),
        ]
        row_check = [
            f"""CREATE FUNCTION {self.name}_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF {self._not_null("NEW")} THEN
                    PERFORM 1 FROM {self.parent} p WHERE {self._joined("p", "NEW")}
                    FOR KEY SHARE OF p;
                    IF NOT FOUND THEN {self._error()}; END IF;
                END IF;
                RETURN NEW;
            END $$""",
            f"""CREATE TRIGGER {self.name}_changed BEFORE UPDATE OF {self._keys} ON {self.child}
            FOR EACH ROW WHEN ({self._changed()})
            EXECUTE FUNCTION {self.name}_changed()""",
        ]
        parent_check = [
            f"""CREATE FUNCTION {self.name}_parent_deleted() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF EXISTS (
                    SELECT 1 FROM removed r JOIN {self.child} c ON {self._joined("r", "c")}
                ) THEN
                    RAISE foreign_key_violation USING MESSAGE =
                        'Rows of {self.child} still refer to the {self.parent} rows deleted.';
                END IF;
                RETURN NULL;
            END $$""",
            f"""CREATE TRIGGER {self.name}_parent_deleted AFTER DELETE ON {self.parent}
            REFERENCING OLD TABLE AS removed
            FOR EACH STATEMENT EXECUTE FUNCTION {self.name}_parent_deleted()""",
        ]
        return [
            *statement_check,
            *([] if self.updates_per_statement else row_check),
            *parent_check,
        ]

    def _statement_events(self) -> list[tuple[str, str]]:
        events = [("INSERT", "inserted")]
        return [*events, ("UPDATE", "updated")] if self.updates_per_statement else events

    def postgresql_removed(self) -> list[str]:
        per_row = [] if self.updates_per_statement else ["changed"]
        triggers = [name for _, name in self._statement_events()] + per_row
        return [
            *(f"DROP TRIGGER {self.name}_{name} ON {self.child}" for name in triggers),
            f"DROP TRIGGER {self.name}_parent_deleted ON {self.parent}",
            *(f"DROP FUNCTION {self.name}_{name}()" for name in ["inserted", *per_row]),
            f"DROP FUNCTION {self.name}_parent_deleted()",
        ]

    def sqlite(self) -> list[str]:
        missing = (
            f"{self._not_null('NEW')} AND NOT EXISTS "
            f"(SELECT 1 FROM {self.parent} p WHERE {self._joined('p', 'NEW')})"
        )
        text = self.message.replace("'", "''")
        return [
            f"""CREATE TRIGGER {self.name}_{event.split()[0].lower()} BEFORE {event}
            ON {self.child} WHEN {missing}
            BEGIN SELECT RAISE(ABORT, '{text}'); END"""
            for event in ("INSERT", f"UPDATE OF {self._keys}")
        ]

    def sqlite_removed(self) -> list[str]:
        return [f"DROP TRIGGER {self.name}_{event}" for event in ("insert", "update")]


def install(schema_editor: Any, references: list[Reference]) -> None:
    vendor = schema_editor.connection.vendor
    for reference in references:
        statements = {"postgresql": reference.postgresql, "sqlite": reference.sqlite}.get(vendor)
        for statement in statements() if statements else []:
            schema_editor.execute(statement, params=None)


def remove(schema_editor: Any, references: list[Reference]) -> None:
    vendor = schema_editor.connection.vendor
    for reference in references:
        statements = {
            "postgresql": reference.postgresql_removed,
            "sqlite": reference.sqlite_removed,
        }.get(vendor)
        for statement in statements() if statements else []:
            schema_editor.execute(statement, params=None)
