"""The set-based statements of line matching (matching.pairing): which employees a
generation pairs again, the `same_day` round of all of them in one INSERT … SELECT, and the
lines it leaves, read once and paired by matching.rounds. The number of statements does not
grow with the number of employees."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, Max, Min

from core.bulk import rows_insert
from matching.models import LinePair, ManualDecision, MatchingScope, UnmatchedLine
from matching.rounds import CardRef, ReceiptRef, pair_lines
from sessions_app.models import (
    CardTransaction,
    ProcessingSession,
    ReceiptDigest,
    ReceiptLine,
    ReceiptVersion,
)

CENT = Decimal("0.01")
_CENTS = "CAST(ROUND({} * 100) AS bigint)"
PAIR_COLUMNS = [
    "session_id", "generation", "employee_id", "card_line_id", "receipt_line_id",
    "receipt_ordinal", "rule",
]  # fmt: skip
UNMATCHED_COLUMNS = [
    "session_id", "generation", "side", "employee_id", "line_id", "line_number",
    "version", "ordinal", "date", "merchant", "receipt_id", "amount", "held",
]  # fmt: skip


@dataclass
class MatchingOutcome:
    """What a generation wrote: pairs and unmatched lines of the employees it paired again
    (`scope`: their number, or None for the whole session)."""

    pairs: int = 0
    unmatched_card_lines: int = 0
    unmatched_receipt_lines: int = 0
    ended_decisions: list[int] = field(default_factory=list)
    scope: int | None = None

    def add_counts(self, other: MatchingOutcome) -> None:
        self.pairs += other.pairs
        self.unmatched_card_lines += other.unmatched_card_lines
        self.unmatched_receipt_lines += other.unmatched_receipt_lines
        self.scope = other.scope


@dataclass(frozen=True)
class MatchingBasis:
    """What a generation was paired from: the receipts versions in effect and the card
    statement's lines (their number and id range: a replaced statement has new rows)."""

    version_ids: tuple[int, ...]
    cards: tuple[int, int, int]

    def dumps(self) -> str:
        return json.dumps({"versions": list(self.version_ids), "cards": list(self.cards)})

    @classmethod
    def loads(cls, text: str) -> MatchingBasis | None:
        try:
            data = json.loads(text)
            return cls(tuple(int(v) for v in data["versions"]), tuple(data["cards"]))  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError):
            return None


def matching_basis(session_id: int, version_ids: list[int]) -> MatchingBasis:
    cards = CardTransaction.objects.filter(session_id=session_id).aggregate(
        n=Count("id"), low=Min("id"), high=Max("id")
    )
    return MatchingBasis(
        tuple(sorted(version_ids)), (cards["n"], cards["low"] or 0, cards["high"] or 0)
    )


def quote_name(connection: BaseDatabaseWrapper, name: str) -> str:
    return connection.ops.quote_name(name)


@dataclass(frozen=True)
class Held:
    """Lines the automatic rounds leave alone: the card lines of the decisions in effect (a
    manual pair or an unmatch) and the receipt lines of the manual pairs."""

    card_line_ids: list[int]
    receipt_line_ids: list[int]


@dataclass(frozen=True)
class Scope:
    """The generation being written, and whether it pairs only the employees listed for it
    in MatchingScope (else the whole session)."""

    session_id: int
    generation: int
    listed: bool

    def employees(self, connection: BaseDatabaseWrapper, column: str) -> str:
        """` AND column IN (the listed employees)`, or nothing for the whole session."""
        if not self.listed:
            return ""
        table = quote_name(connection, MatchingScope._meta.db_table)
        return (
            f" AND {column} IN (SELECT s.employee_id FROM {table} s "  # noqa: S608
            "WHERE s.session_id = %(session)s AND s.generation = %(generation)s)"
        )

    @property
    def params(self) -> dict[str, int]:
        return {"session": self.session_id, "generation": self.generation}


@contextmanager
def joins_by_hash(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """The pairs were just written, so PostgreSQL has no statistics for them yet (and
    none for lines stored a moment ago until autovacuum passes): it would guess a handful of
    rows and join 500k lines to 500k pairs by nested loop. The joins here are over whole
    sessions, which hash joins do in one pass; inside the apply transaction only. Ruling the
    nested loop out makes every plan look costly, which would start the JIT compiler
    (2 s of compiling for a 0.5 s statement): it stays off too."""
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_nestloop TO DEFAULT")
            cursor.execute("SET LOCAL jit TO DEFAULT")
            cursor.execute("SET LOCAL work_mem TO DEFAULT")


# --- Who is paired again ---------------------------------------------------------------------


def scope_write(
    session: ProcessingSession,
    generation: int,
    basis: MatchingBasis,
    manual: list[ManualDecision],
    connection: BaseDatabaseWrapper,
) -> int | None:
    """List the employees `generation` pairs again in MatchingScope and return how many; None
    when it pairs the whole session (nothing is known of the generation in effect, or the
    card statement changed). An employee is in scope when their receipt fingerprints in
    effect (one per version holding their lines, in version order) differ from those the
    generation in effect was paired from, or when a decision of theirs is in effect."""
    table = quote_name(connection, MatchingScope._meta.db_table)
    columns = ["session_id", "generation", "employee_id"]
    before = MatchingBasis.loads(session.matching_basis)
    known = set(before.version_ids if before else ()) | set(basis.version_ids)
    if (
        before is None
        or before.cards != basis.cards
        or ReceiptVersion.objects.filter(pk__in=known).count() != len(known)
    ):
        rows_insert(
            connection, MatchingScope._meta.db_table, columns, [(session.pk, generation, None)]
        )
        return None
    employees = sorted({d.employee_id for d in manual})
    rows_insert(
        connection,
        MatchingScope._meta.db_table,
        columns,
        [(session.pk, generation, employee_id) for employee_id in employees],
    )
    if before.version_ids != basis.version_ids:
        old = _fingerprints_sql(connection, list(before.version_ids), "o")
        new = _fingerprints_sql(connection, list(basis.version_ids), "n")
        with connection.cursor() as cursor:
            # A fingerprint found on one side only: the employee's lines changed.
            cursor.execute(
                f"INSERT INTO {table} (session_id, generation, employee_id) "  # noqa: S608
                "SELECT DISTINCT %(session)s, %(generation)s, employee_id FROM ("
                "SELECT employee_id FROM ("
                f"{old[0]} UNION ALL {new[0]}"
                ") f GROUP BY employee_id, place, lines, digest HAVING COUNT(*) = 1) changed",
                {"session": session.pk, "generation": generation, **old[1], **new[1]},
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # its rows were just written: give the planner them
            cursor.execute(f"ANALYZE {table}")
    listed = MatchingScope.objects.filter(session_id=session.pk, generation=generation)
    return listed.values("employee_id").distinct().count()


def _fingerprints_sql(
    connection: BaseDatabaseWrapper, version_ids: list[int], prefix: str
) -> tuple[str, dict[str, int]]:
    """(employee, place, lines, digest) for each version of `version_ids` holding lines of
    the employee, placed in version order: equal rows, equal lines in the same order."""
    digests = quote_name(connection, ReceiptDigest._meta.db_table)
    if not version_ids:
        return (
            f"SELECT d.employee_id, 0 AS place, d.lines, d.digest FROM {digests} d "  # noqa: S608
            "WHERE 1 = 0",
            {},
        )
    versions, params = _id_list(version_ids, prefix)
    place = "1"  # one version: one fingerprint per employee
    if len(version_ids) > 1:
        number = _version_number(version_ids, column="d.receipt_version_id")
        place = f"ROW_NUMBER() OVER (PARTITION BY d.employee_id ORDER BY {number})"
    return (
        f"SELECT d.employee_id, {place} AS place, d.lines, d.digest "  # noqa: S608
        f"FROM {digests} d WHERE d.receipt_version_id IN ({versions})",
        params,
    )


# --- The same_day round, set-based ---------------------------------------------------------


def _id_list(ids: list[int], prefix: str) -> tuple[str, dict[str, int]]:
    """A list of ids as named parameters: ("%(v0)s, %(v1)s", {"v0": …, "v1": …})."""
    names = {f"{prefix}{index}": pk for index, pk in enumerate(ids)}
    return ", ".join(f"%({name})s" for name in names), names


def _not_in(column: str, ids: list[int], prefix: str) -> tuple[str, dict[str, int]]:
    """`column NOT IN (…)` over a few held line ids, as parameters; nothing when none."""
    if not ids:
        return "", {}
    placeholders, params = _id_list(ids, prefix)
    return f" AND {column} NOT IN ({placeholders})", params


def _held_flag(column: str, ids: list[int]) -> tuple[str, dict[str, int]]:
    """1 for a held card line, else 0."""
    if not ids:
        return "0", {}
    placeholders, params = _id_list(ids, "f")
    return f"CASE WHEN {column} IN ({placeholders}) THEN 1 ELSE 0 END", params


def _version_number(version_ids: list[int], column: str = "l.receipt_version_id") -> str:
    """The receipts version number of a line, from its version id: a CASE over the few
    versions in effect instead of a join with every line."""
    numbers = dict(ReceiptVersion.objects.filter(pk__in=version_ids).values_list("pk", "version"))
    whens = " ".join(f"WHEN {int(pk)} THEN {int(numbers[pk])}" for pk in version_ids)
    return f"CASE {column} {whens} END"


def _cents_of(connection: BaseDatabaseWrapper, column: str) -> str:
    """Amounts compared to the cent: numeric(14, 2) as it is on PostgreSQL; integer cents on
    SQLite, which keeps decimals as floating point."""
    return column if connection.vendor == "postgresql" else _CENTS.format(column)


def _receipts_in_scope_sql(
    connection: BaseDatabaseWrapper, scope: Scope, version_ids: list[int]
) -> tuple[str, dict[str, int]]:
    """The receipt lines in effect of the employees in scope, each with its version number
    and its ordinal (place among the employee's lines in effect)."""
    receipt = quote_name(connection, ReceiptLine._meta.db_table)
    versions, params = _id_list(version_ids, "v")
    number = _version_number(version_ids)
    sql = (
        f"SELECT l.id, l.employee_id, l.line_number, l.receipt_date, l.receipt_id, "  # noqa: S608
        f"l.amount, l.merchant, {number} AS version, ROW_NUMBER() OVER (PARTITION BY "
        f"l.employee_id ORDER BY {number}, l.line_number, l.id) AS ordinal FROM {receipt} l "
        f"WHERE l.session_id = %(session)s AND l.receipt_version_id IN ({versions})"
        f"{scope.employees(connection, 'l.employee_id')}"
    )
    return sql, params


def same_day_sql(
    connection: BaseDatabaseWrapper, scope: Scope, version_ids: list[int], held: Held
) -> tuple[str, dict[str, Any]]:
    card = quote_name(connection, CardTransaction._meta.db_table)
    pairs = quote_name(connection, LinePair._meta.db_table)
    receipts, params = _receipts_in_scope_sql(connection, scope, version_ids)
    card_cents = _cents_of(connection, "c.amount")
    receipt_cents = _cents_of(connection, "l.amount")
    columns = ", ".join(quote_name(connection, name) for name in PAIR_COLUMNS)
    held_cards, card_params = _not_in("c.id", held.card_line_ids, "h")
    manual_receipts, receipt_params = _not_in("l.id", held.receipt_line_ids, "m")
    sql = (
        f"INSERT INTO {pairs} ({columns}) "  # noqa: S608 - identifiers only
        "SELECT %(session)s, %(generation)s, c.employee_id, c.id, r.id, r.ordinal, "
        "'same_day' FROM ("
        f"SELECT c.id, c.employee_id, c.transaction_date AS day, {card_cents} AS cents, "
        "ROW_NUMBER() OVER (PARTITION BY c.employee_id, c.transaction_date, "
        f"{card_cents} ORDER BY c.line_number, c.id) AS turn FROM {card} c "
        f"WHERE c.session_id = %(session)s AND c.transaction_date IS NOT NULL{held_cards}"
        f"{scope.employees(connection, 'c.employee_id')}"
        ") c JOIN ("
        f"SELECT l.id, l.employee_id, l.receipt_date AS day, {receipt_cents} AS cents, "
        "l.ordinal, ROW_NUMBER() OVER (PARTITION BY l.employee_id, l.receipt_date, "
        f"{receipt_cents} ORDER BY l.ordinal) AS turn FROM ({receipts}) l "
        f"WHERE l.receipt_date IS NOT NULL{manual_receipts}"
        ") r ON r.employee_id = c.employee_id AND r.day = c.day AND r.cents = c.cents "
        "AND r.turn = c.turn"
    )
    values = {**scope.params, **params}
    return sql, {**values, **card_params, **receipt_params}


# --- What the same_day round leaves --------------------------------------------------------


def leftovers_pair(
    connection: BaseDatabaseWrapper,
    scope: Scope,
    version_ids: list[int],
    held: Held,
    outcome: MatchingOutcome,
) -> None:
    cards = _card_leftovers(connection, scope, held)
    receipts = _receipt_leftovers(connection, scope, version_ids) if version_ids else []
    by_employee: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = defaultdict(
        lambda: ([], [])
    )
    for row in cards:
        by_employee[row[0]][0].append(row)
    for row in receipts:
        by_employee[row[0]][1].append(row)
    pair_and_store(connection, scope.session_id, scope.generation, by_employee, outcome)


def pair_and_store(
    connection: BaseDatabaseWrapper,
    session_id: int,
    generation: int,
    by_employee: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]],
    outcome: MatchingOutcome,
) -> None:
    """Pair each employee's free lines with the rounds and store the pairs and the lines
    left unmatched. Rows as _card_leftovers and _receipt_leftovers read them."""
    pair_rows, unmatched_rows = [], []
    for employee_id, (card_rows, receipt_rows) in by_employee.items():
        free_cards = [
            CardRef(row[1], row[2], row[3], _cents(row[5])) for row in card_rows if not row[6]
        ]
        free_receipts = [
            ReceiptRef(row[1], row[7], row[2], row[3], _cents(row[5])) for row in receipt_rows
        ]
        ordinals = {row[1]: row[9] for row in receipt_rows}
        paired: set[tuple[str, int]] = set()
        for pair in pair_lines(free_cards, free_receipts):
            pair_rows.append(
                (session_id, generation, employee_id, pair.card_line_id,
                 pair.receipt_line_id, ordinals[pair.receipt_line_id], pair.rule)
            )  # fmt: skip
            paired |= {("card", pair.card_line_id), ("receipt", pair.receipt_line_id)}
        for side, rows in (("card", card_rows), ("receipt", receipt_rows)):
            for row in rows:
                if (side, row[1]) not in paired:
                    unmatched_rows.append(_unmatched_row(session_id, generation, side, row))
    rows_insert(connection, LinePair._meta.db_table, PAIR_COLUMNS, pair_rows)
    rows_insert(connection, UnmatchedLine._meta.db_table, UNMATCHED_COLUMNS, unmatched_rows)
    outcome.pairs += len(pair_rows)
    outcome.unmatched_card_lines += sum(1 for row in unmatched_rows if row[3] == "card")
    outcome.unmatched_receipt_lines += sum(1 for row in unmatched_rows if row[3] == "receipt")


def _money(amount: Any) -> Decimal:
    """SQLite hands raw decimals back as int or float; PostgreSQL as Decimal."""
    return Decimal(str(amount)).quantize(CENT)


def _cents(amount: Any) -> int:
    return int(_money(amount).scaleb(2))


def _unmatched_row(
    session_id: int, generation: int, side: str, row: tuple[Any, ...]
) -> tuple[Any, ...]:
    employee_id, line_id, line_number, date, text, amount = row[:6]
    merchant, receipt_id = (text, "") if side == "card" else (row[8], text)
    version, ordinal = (None, None) if side == "card" else (row[7], row[9])
    held = bool(row[6]) if side == "card" else False
    return (
        session_id, generation, side, employee_id, line_id, line_number, version, ordinal,
        date, merchant or "", receipt_id or "", _money(amount), held,
    )  # fmt: skip


def _card_leftovers(
    connection: BaseDatabaseWrapper, scope: Scope, held: Held
) -> list[tuple[Any, ...]]:
    """(employee, id, line number, date, merchant, amount, held) of every card line in scope
    no pair of the generation holds."""
    card = quote_name(connection, CardTransaction._meta.db_table)
    pairs = quote_name(connection, LinePair._meta.db_table)
    flag, params = _held_flag("c.id", held.card_line_ids)
    sql = (
        "SELECT c.employee_id, c.id, c.line_number, c.transaction_date, c.merchant, "  # noqa: S608
        f"c.amount, {flag} FROM {card} c WHERE c.session_id = %(session)s"
        f"{scope.employees(connection, 'c.employee_id')} AND NOT EXISTS ("
        f"SELECT 1 FROM {pairs} p WHERE p.session_id = %(session)s "
        "AND p.card_line_id = c.id AND p.generation = %(generation)s)"
    )
    return _rows(connection, sql, {**scope.params, **params})


def _receipt_leftovers(
    connection: BaseDatabaseWrapper, scope: Scope, version_ids: list[int]
) -> list[tuple[Any, ...]]:
    """(employee, id, line number, date, receipt id, amount, 0, version, merchant, ordinal)
    of every receipt line in effect in scope no pair of the generation holds."""
    receipts, params = _receipts_in_scope_sql(connection, scope, version_ids)
    pairs = quote_name(connection, LinePair._meta.db_table)
    sql = (
        "SELECT l.employee_id, l.id, l.line_number, l.receipt_date, l.receipt_id, "  # noqa: S608
        f"l.amount, 0, l.version, l.merchant, l.ordinal FROM ({receipts}) l "
        f"WHERE NOT EXISTS (SELECT 1 FROM {pairs} p WHERE p.session_id = %(session)s "
        "AND p.generation = %(generation)s AND p.receipt_line_id = l.id)"
    )
    return _rows(connection, sql, {**scope.params, **params})


def _rows(
    connection: BaseDatabaseWrapper, sql: str, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
