"""Pairing a whole session, set-based, for a recalculation.

1. The operator's decisions are found again among the current lines (matching.identity);
   a decision whose line left the effective receipts (or the statement) ends, as an audit
   event.
2. The session's pairs and unmatched lines are written as a new *generation*: manual pairs
   first; then the `same_day` round of every employee in ONE INSERT … SELECT (the k-th card
   line of an (employee, date, amount) group in line-number order takes the k-th receipt of
   the same group in (version, line number) order, which is what the round does line by
   line); then the lines that round leaves — a few per employee at most — are read once,
   paired by matching.rounds (`near_date`, `amount_only`) and written with the unmatched
   lines.
3. The apply switches `ProcessingSession.matching_generation` to it, in its transaction.

Step 2 can run ahead of the apply, on its own connection while the job compares totals
(matching.beside): its rows are invisible until step 3, and the apply uses them only if the
lines in effect and the decisions are still those they were computed from. The previous
generation stays until the next recalculation prunes it, so a reader that loaded the session
a moment before the switch still reads one whole generation.

The number of statements does not grow with the number of employees."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.bulk import rows_insert
from matching.identity import (
    LineIdentity,
    card_identities,
    card_line_values,
    receipt_identities,
    receipt_line_values,
)
from matching.models import LinePair, ManualDecision, Rule, UnmatchedLine
from matching.rounds import CardRef, ReceiptRef, pair_lines
from sessions_app.models import CardTransaction, ProcessingSession, ReceiptLine, ReceiptVersion

CENT = Decimal("0.01")
_CENTS = "CAST(ROUND({} * 100) AS bigint)"
PAIR_COLUMNS = [
    "session_id", "generation", "employee_id", "card_line_id", "receipt_line_id", "rule",
]  # fmt: skip
UNMATCHED_COLUMNS = [
    "session_id", "generation", "side", "employee_id", "line_id", "line_number", "version", "date",
    "merchant", "receipt_id", "amount", "held",
]  # fmt: skip


@dataclass
class MatchingOutcome:
    pairs: int = 0
    unmatched_card_lines: int = 0
    unmatched_receipt_lines: int = 0
    ended_decisions: list[int] = field(default_factory=list)

    def add_counts(self, other: MatchingOutcome) -> None:
        self.pairs += other.pairs
        self.unmatched_card_lines += other.unmatched_card_lines
        self.unmatched_receipt_lines += other.unmatched_receipt_lines


@dataclass(frozen=True)
class PreparedMatching:
    """A generation of pairs and unmatched lines written and committed ahead of the apply
    (matching.beside), with what it was computed from: the apply takes it only if that is
    still what it sees under the session lock."""

    generation: int
    version_ids: tuple[int, ...]
    decisions: tuple[tuple[int, int | None, int | None], ...]
    outcome: MatchingOutcome
    seconds: float = 0.0


def _q(connection: BaseDatabaseWrapper, name: str) -> str:
    return connection.ops.quote_name(name)


def session_matching_store(
    session: ProcessingSession,
    *,
    version_ids: list[int],
    actor: Any = None,
    generation: int | None = None,
    prepared: PreparedMatching | None = None,
    connection: BaseDatabaseWrapper = default_connection,
) -> MatchingOutcome:
    """Put the session's pairs and unmatched lines for its current lines in effect. Call it
    inside the transaction that writes the recalculation's results, with the session row
    locked: the operator's decisions are found again (and those whose lines left end, as
    audit events), then either a `prepared` generation computed from exactly these inputs
    is switched on, or a new generation is computed here; the previous generation is kept
    until the next recalculation (readers holding the old number still read a whole one)."""
    outcome = MatchingOutcome()
    manual = decisions_refresh(session, version_ids=version_ids, actor=actor, outcome=outcome)
    if prepared is not None and prepared_still_valid(prepared, version_ids, manual):
        generation = prepared.generation
        outcome.add_counts(prepared.outcome)
    else:
        if generation is None or generation == session.matching_generation:
            generation = session.matching_generation + 1
        generations_prune(session, keep=session.matching_generation, connection=connection)
        outcome.add_counts(
            generation_write(
                session, generation=generation, version_ids=version_ids, manual=manual,
                connection=connection,
            )
        )  # fmt: skip
    ProcessingSession.objects.filter(pk=session.pk).update(matching_generation=generation)
    session.matching_generation = generation
    return outcome


def decisions_key(manual: list[ManualDecision]) -> tuple[tuple[int, int | None, int | None], ...]:
    return tuple(sorted((d.pk, d.card_line_id, d.receipt_line_id) for d in manual))


def prepared_still_valid(
    prepared: PreparedMatching, version_ids: list[int], manual: list[ManualDecision]
) -> bool:
    return prepared.version_ids == tuple(sorted(version_ids)) and prepared.decisions == (
        decisions_key(manual)
    )


def generations_prune(
    session: ProcessingSession,
    *,
    keep: int,
    below: int | None = None,
    connection: BaseDatabaseWrapper = default_connection,
) -> None:
    """Delete the session's stored matching except generation `keep`; with `below`, only
    generations under it (a job preparing generation `below` never deletes a later
    attempt's rows)."""
    extra = " AND generation < %s" if below is not None else ""
    with connection.cursor() as cursor:
        for model in (LinePair, UnmatchedLine):
            cursor.execute(
                f"DELETE FROM {_q(connection, model._meta.db_table)} "  # noqa: S608
                f"WHERE session_id = %s AND generation <> %s{extra}",
                [session.pk, keep, *([below] if below is not None else [])],
            )


def generation_write(
    session: ProcessingSession,
    *,
    generation: int,
    version_ids: list[int],
    manual: list[ManualDecision],
    connection: BaseDatabaseWrapper = default_connection,
) -> MatchingOutcome:
    """Pair the whole session into `generation` (which holds no rows): the manual pairs of
    `manual` (the decisions in effect, pointing at their lines as they are now), the
    `same_day` round in one statement, then the rounds over what it leaves."""
    outcome = MatchingOutcome()
    matched = [d for d in manual if d.kind == ManualDecision.Kind.MATCH]
    held = Held(
        card_line_ids=sorted({d.card_line_id for d in manual if d.card_line_id is not None}),
        receipt_line_ids=sorted(
            {d.receipt_line_id for d in matched if d.receipt_line_id is not None}
        ),
    )
    rows_insert(
        connection,
        LinePair._meta.db_table,
        [*PAIR_COLUMNS, "decision_id"],
        [
            (session.pk, generation, d.employee_id, d.card_line_id, d.receipt_line_id,
             Rule.MANUAL, d.pk)
            for d in matched
        ],
    )  # fmt: skip
    outcome.pairs += len(matched)
    with joins_by_hash(connection):
        if version_ids:
            with connection.cursor() as cursor:
                sql, params = _same_day_sql(connection, session.pk, generation, version_ids, held)
                cursor.execute(sql, params)
                outcome.pairs += max(cursor.rowcount, 0)
        _leftovers_pair(connection, session.pk, generation, version_ids, held, outcome)
    return outcome


@dataclass(frozen=True)
class Held:
    """Lines the automatic rounds leave alone: the card lines of the decisions in effect (a
    manual pair or an unmatch) and the receipt lines of the manual pairs."""

    card_line_ids: list[int]
    receipt_line_ids: list[int]


@contextmanager
def joins_by_hash(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """The pairs were all just rewritten, so PostgreSQL has no statistics for them yet (and
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


# --- 1. The operator's decisions --------------------------------------------------------------


def decisions_refresh(
    session: ProcessingSession,
    *,
    version_ids: list[int],
    actor: Any,
    outcome: MatchingOutcome,
    employee_id: str | None = None,
    dry_run: bool = False,
) -> list[ManualDecision]:
    """The active decisions, each pointing at its line(s) as they are now; those whose line
    is gone are ended (an audit event each). `dry_run` writes nothing: what the apply will
    find, for pairing ahead of it."""
    active = ManualDecision.objects.filter(session=session, ended_at__isnull=True)
    if employee_id is not None:
        active = active.filter(employee_id=employee_id)
    decisions = list(active.order_by("decided_at", "id"))
    if not decisions:
        return []
    employees = {d.employee_id for d in decisions}
    cards = card_identities(card_line_values(session.pk, employees))
    receipts = receipt_identities(receipt_line_values(session.pk, employees, version_ids))
    kept: list[ManualDecision] = []
    claimed: set[tuple[str, int | None]] = set()
    for decision in decisions:
        card_id = cards.get(_card_identity(decision))
        receipt_id = None
        gone = ""
        if card_id is None:
            gone = "its card line is no longer on the card statement"
        elif decision.kind == ManualDecision.Kind.MATCH:
            receipt_id = receipts.get(_receipt_identity(decision))
            if receipt_id is None:
                gone = "its receipt line left the effective receipts"
        if not gone and ({("c", card_id), ("r", receipt_id)} - {("r", None)}) & claimed:
            gone = "a later decision took one of its lines"
        if gone:
            if not dry_run:
                _decision_end(decision, reason=gone, actor=actor, session=session)
            outcome.ended_decisions.append(decision.pk)
            continue
        claimed |= {("c", card_id), ("r", receipt_id)} - {("r", None)}
        if (decision.card_line_id, decision.receipt_line_id) != (card_id, receipt_id):
            decision.card_line_id, decision.receipt_line_id = card_id, receipt_id
            if not dry_run:
                decision.save(update_fields=["card_line_id", "receipt_line_id"])
        kept.append(decision)
    return kept


def _card_identity(decision: ManualDecision) -> LineIdentity:
    return LineIdentity(
        decision.employee_id,
        decision.card_date,
        decision.card_amount,
        decision.card_merchant,
        decision.card_occurrence,
    )


def _receipt_identity(decision: ManualDecision) -> LineIdentity:
    return LineIdentity(
        decision.employee_id,
        decision.receipt_date,
        decision.receipt_amount,  # type: ignore[arg-type]
        decision.receipt_ref,
        decision.receipt_occurrence or 1,
    )


def _decision_end(
    decision: ManualDecision, *, reason: str, actor: Any, session: ProcessingSession
) -> None:
    decision.ended_at = timezone.now()
    decision.ended_reason = reason[:200]
    decision.save(update_fields=["ended_at", "ended_reason"])
    what = "manual match" if decision.kind == ManualDecision.Kind.MATCH else "manual unmatch"
    activity_event_record(
        verb=ActivityEvent.Verb.MANUAL_MATCH_ENDED,
        message=f"{decision.employee_id}: {what} of {decision.card_amount} ended: {reason}",
        actor=actor,
        session=session,
        details={
            "employee_id": decision.employee_id,
            "decision": decision.pk,
            "kind": decision.kind,
            "reason": reason,
            "note": decision.note,
        },
    )


# --- 2. The same_day round, set-based ---------------------------------------------------------


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


def _version_number(version_ids: list[int]) -> str:
    """The receipts version number of a line, from its version id: a CASE over the few
    versions in effect instead of a join with every line."""
    numbers = dict(ReceiptVersion.objects.filter(pk__in=version_ids).values_list("pk", "version"))
    whens = " ".join(f"WHEN {int(pk)} THEN {int(numbers[pk])}" for pk in version_ids)
    return f"CASE l.receipt_version_id {whens} END"


def _cents_of(connection: BaseDatabaseWrapper, column: str) -> str:
    """Amounts compared to the cent: numeric(14, 2) as it is on PostgreSQL; integer cents on
    SQLite, which keeps decimals as floating point."""
    return column if connection.vendor == "postgresql" else _CENTS.format(column)


def _same_day_sql(
    connection: BaseDatabaseWrapper,
    session_id: int,
    generation: int,
    version_ids: list[int],
    held: Held,
) -> tuple[str, dict[str, Any]]:
    card = _q(connection, CardTransaction._meta.db_table)
    receipt = _q(connection, ReceiptLine._meta.db_table)
    pairs = _q(connection, LinePair._meta.db_table)
    versions, params = _id_list(version_ids, "v")
    card_cents = _cents_of(connection, "c.amount")
    receipt_cents = _cents_of(connection, "l.amount")
    columns = ", ".join(_q(connection, name) for name in PAIR_COLUMNS)
    held_cards, card_params = _not_in("c.id", held.card_line_ids, "h")
    manual_receipts, receipt_params = _not_in("l.id", held.receipt_line_ids, "m")
    sql = (
        f"INSERT INTO {pairs} ({columns}) "  # noqa: S608 - identifiers only
        "SELECT %(session)s, %(generation)s, c.employee_id, c.id, r.id, 'same_day' FROM ("
        f"SELECT c.id, c.employee_id, c.transaction_date AS day, {card_cents} AS cents, "
        "ROW_NUMBER() OVER (PARTITION BY c.employee_id, c.transaction_date, "
        f"{card_cents} ORDER BY c.line_number, c.id) AS turn FROM {card} c "
        f"WHERE c.session_id = %(session)s AND c.transaction_date IS NOT NULL{held_cards}"
        ") c JOIN ("
        f"SELECT l.id, l.employee_id, l.receipt_date AS day, {receipt_cents} AS cents, "
        "ROW_NUMBER() OVER (PARTITION BY l.employee_id, l.receipt_date, "
        f"{receipt_cents} ORDER BY {_version_number(version_ids)}, l.line_number, l.id) "
        f"AS turn FROM {receipt} l "
        f"WHERE l.session_id = %(session)s AND l.receipt_version_id IN ({versions}) "
        f"AND l.receipt_date IS NOT NULL{manual_receipts}"
        ") r ON r.employee_id = c.employee_id AND r.day = c.day AND r.cents = c.cents "
        "AND r.turn = c.turn"
    )
    values = {"session": session_id, "generation": generation, **params}
    return sql, {**values, **card_params, **receipt_params}


# --- 3. What the same_day round leaves --------------------------------------------------------


def _leftovers_pair(
    connection: BaseDatabaseWrapper,
    session_id: int,
    generation: int,
    version_ids: list[int],
    held: Held,
    outcome: MatchingOutcome,
) -> None:
    cards = _card_leftovers(connection, session_id, generation, held)
    receipts = (
        _receipt_leftovers(connection, session_id, generation, version_ids) if version_ids else []
    )
    by_employee: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = defaultdict(
        lambda: ([], [])
    )
    for row in cards:
        by_employee[row[0]][0].append(row)
    for row in receipts:
        by_employee[row[0]][1].append(row)
    _pair_and_store(connection, session_id, generation, by_employee, outcome)


def _pair_and_store(
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
        paired: set[tuple[str, int]] = set()
        for pair in pair_lines(free_cards, free_receipts):
            pair_rows.append(
                (session_id, generation, employee_id, pair.card_line_id, pair.receipt_line_id,
                 pair.rule)
            )  # fmt: skip
            paired |= {("card", pair.card_line_id), ("receipt", pair.receipt_line_id)}
        for side, rows in (("card", card_rows), ("receipt", receipt_rows)):
            for row in rows:
                if (side, row[1]) not in paired:
                    unmatched_rows.append(_unmatched_row(session_id, generation, side, row))
    rows_insert(connection, LinePair._meta.db_table, PAIR_COLUMNS, pair_rows)
    rows_insert(connection, UnmatchedLine._meta.db_table, UNMATCHED_COLUMNS, unmatched_rows)
    outcome.pairs += len(pair_rows)
    outcome.unmatched_card_lines += sum(1 for row in unmatched_rows if row[2] == "card")
    outcome.unmatched_receipt_lines += sum(1 for row in unmatched_rows if row[2] == "receipt")


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
    version = None if side == "card" else row[7]
    held = bool(row[6]) if side == "card" else False
    return (
        session_id, generation, side, employee_id, line_id, line_number, version, date,
        merchant or "", receipt_id or "", _money(amount), held,
    )  # fmt: skip


def _card_leftovers(
    connection: BaseDatabaseWrapper, session_id: int, generation: int, held: Held
) -> list[tuple[Any, ...]]:
    """(employee, id, line number, date, merchant, amount, held) of every card line no pair
    of `generation` holds."""
    card = _q(connection, CardTransaction._meta.db_table)
    pairs = _q(connection, LinePair._meta.db_table)
    flag, params = _held_flag("c.id", held.card_line_ids)
    sql = (
        "SELECT c.employee_id, c.id, c.line_number, c.transaction_date, c.merchant, "  # noqa: S608
        f"c.amount, {flag} FROM {card} c WHERE c.session_id = %(session)s AND NOT EXISTS ("
        f"SELECT 1 FROM {pairs} p WHERE p.session_id = %(session)s "
        "AND p.generation = %(generation)s AND p.card_line_id = c.id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"session": session_id, "generation": generation, **params})
        return cursor.fetchall()


def _receipt_leftovers(
    connection: BaseDatabaseWrapper, session_id: int, generation: int, version_ids: list[int]
) -> list[tuple[Any, ...]]:
    """(employee, id, line number, date, receipt id, amount, 0, version, merchant) of every
    effective receipt line no pair holds."""
    receipt = _q(connection, ReceiptLine._meta.db_table)
    pairs = _q(connection, LinePair._meta.db_table)
    versions, params = _id_list(version_ids, "v")
    sql = (
        "SELECT l.employee_id, l.id, l.line_number, l.receipt_date, l.receipt_id, "  # noqa: S608
        f"l.amount, 0, {_version_number(version_ids)}, l.merchant FROM {receipt} l "
        f"WHERE l.session_id = %(session)s AND l.receipt_version_id IN ({versions}) "
        f"AND NOT EXISTS (SELECT 1 FROM {pairs} p WHERE p.session_id = %(session)s "
        "AND p.generation = %(generation)s AND p.receipt_line_id = l.id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"session": session_id, "generation": generation, **params})
        return cursor.fetchall()


# --- One employee, after an operator's decision -----------------------------------------------


def employee_matching_store(
    session: ProcessingSession,
    *,
    employee_id: str,
    version_ids: list[int],
    actor: Any = None,
    connection: BaseDatabaseWrapper = default_connection,
) -> MatchingOutcome:
    """Pair one employee again from scratch, exactly as the recalculation would (the same
    decisions first, the same rounds), and replace their stored rows."""
    outcome = MatchingOutcome()
    manual = decisions_refresh(
        session, version_ids=version_ids, actor=actor, outcome=outcome, employee_id=employee_id
    )
    generation = session.matching_generation
    LinePair.objects.of_session(session).of_employee(session.pk, employee_id).delete()
    UnmatchedLine.objects.of_session(session).filter(employee_id=employee_id).delete()
    cards = [
        (employee_id, row["id"], row["line_number"], row["transaction_date"], row["merchant"],
         row["amount"], 0)
        for row in card_line_values(session.pk, [employee_id])
    ]  # fmt: skip
    receipts = [
        (employee_id, row["id"], row["line_number"], row["receipt_date"], row["receipt_id"],
         row["amount"], 0, row["receipt_version__version"], row["merchant"])
        for row in receipt_line_values(session.pk, [employee_id], version_ids)
    ]  # fmt: skip
    matched = [d for d in manual if d.kind == ManualDecision.Kind.MATCH]
    held = {d.card_line_id for d in manual}
    manual_receipts = {d.receipt_line_id for d in matched}
    rows_insert(
        connection,
        LinePair._meta.db_table,
        [*PAIR_COLUMNS, "decision_id"],
        [
            (session.pk, generation, employee_id, d.card_line_id, d.receipt_line_id,
             Rule.MANUAL, d.pk)
            for d in matched
        ],
    )  # fmt: skip
    outcome.pairs += len(matched)
    paired_cards = {d.card_line_id for d in matched}
    cards = [(*row[:6], 1 if row[1] in held else 0) for row in cards if row[1] not in paired_cards]
    receipts = [row for row in receipts if row[1] not in manual_receipts]
    _pair_and_store(connection, session.pk, generation, {employee_id: (cards, receipts)}, outcome)
    return outcome
