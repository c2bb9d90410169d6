"""Pairing a session, set-based, for a recalculation.

1. The operator's decisions are found again among the current lines (matching.identity);
   a decision whose line left the effective receipts (or the statement) ends, as an audit
   event.
2. A new *generation* is written, holding only the employees whose lines or decisions
   changed since the generation in effect — its *scope*, listed in MatchingScope: those
   whose receipt fingerprints in effect differ (sessions_app.digests), and everyone with a
   decision in effect; the whole session when the card statement changed or nothing is
   known of the generation in effect. From this generation on, the listed employees' older
   rows are replaced (matching.models.StoredMatchingQuerySet); the others' rows stay as they
   were written, untouched. The rows written: manual pairs first; then the `same_day` round
   of every employee in scope in ONE INSERT … SELECT (the k-th card line of an (employee,
   date, amount) group in line-number order takes the k-th receipt of the same group in
   (version, line number) order, which is what the round does line by line); then the
   lines that round leaves — a few per employee at most — are read once, paired by
   matching.rounds (`near_date`, `amount_only`) and written with the unmatched lines.
3. The apply switches `ProcessingSession.matching_generation` to it, in its transaction.

A receipt line is stored with its *ordinal*, its place among the employee's receipt lines in
effect in (version, line number) order: an employee out of scope keeps rows that name lines
of an earlier receipts version, and readers find the line in effect by that place (the
employee's lines are the same, in the same order, or they would be in scope).

Step 2 can run ahead of the apply, on its own connection while the job compares totals
(matching.beside): its rows are invisible until step 3, and the apply uses them only if the
generation in effect, the lines in effect and the decisions are still those they were
computed from. The rows a generation replaces stay until the next recalculation prunes them,
so a reader that loaded the session a moment before the switch still reads one whole
generation.

The number of statements does not grow with the number of employees."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

from core.bulk import rows_insert
from matching.decisions import decisions_key, decisions_refresh
from matching.identity import (
    card_line_values,
    receipt_line_values,
)
from matching.models import LinePair, ManualDecision, MatchingScope, Rule, UnmatchedLine
from matching.statements import (
    PAIR_COLUMNS,
    Held,
    MatchingBasis,
    MatchingOutcome,
    Scope,
    joins_by_hash,
    leftovers_pair,
    matching_basis,
    pair_and_store,
    quote_name,
    same_day_sql,
    scope_write,
)
from sessions_app.models import (
    ProcessingSession,
)

__all__ = [
    "MatchingBasis",
    "MatchingOutcome",
    "PreparedMatching",
    "decisions_key",
    "decisions_refresh",
    "employee_matching_store",
    "generation_write",
    "generations_prune",
    "matching_basis",
    "prepared_still_valid",
    "receipt_ordinals",
    "session_matching_store",
]


@dataclass(frozen=True)
class PreparedMatching:
    """A generation of pairs and unmatched lines written and committed ahead of the apply
    (matching.beside), with what it was computed from: the apply takes it only if that is
    still what it sees under the session lock."""

    generation: int
    base: int
    basis: MatchingBasis
    decisions: tuple[tuple[int, int | None, int | None], ...]
    outcome: MatchingOutcome
    seconds: float = 0.0


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
    is switched on, or a new generation is computed here; the rows it replaces are kept
    until the next recalculation (readers holding the old number still read a whole one)."""
    outcome = MatchingOutcome()
    manual = decisions_refresh(session, version_ids=version_ids, actor=actor, outcome=outcome)
    basis = matching_basis(session.pk, version_ids)
    if prepared is not None and prepared_still_valid(prepared, session, basis, manual):
        generation = prepared.generation
        outcome.add_counts(prepared.outcome)
    else:
        if generation is None or generation <= session.matching_generation:
            generation = session.matching_generation + 1
        generations_prune(session, keep=session.matching_generation, connection=connection)
        outcome.add_counts(
            generation_write(
                session, generation=generation, basis=basis, manual=manual,
                connection=connection,
            )
        )  # fmt: skip
    ProcessingSession.objects.filter(pk=session.pk).update(
        matching_generation=generation, matching_basis=basis.dumps()
    )
    session.matching_generation = generation
    session.matching_basis = basis.dumps()
    return outcome


def prepared_still_valid(
    prepared: PreparedMatching,
    session: ProcessingSession,
    basis: MatchingBasis,
    manual: list[ManualDecision],
) -> bool:
    return (
        prepared.base == session.matching_generation
        and prepared.basis == basis
        and prepared.decisions == decisions_key(manual)
    )


def generations_prune(
    session: ProcessingSession,
    *,
    keep: int,
    below: int | None = None,
    connection: BaseDatabaseWrapper = default_connection,
) -> None:
    """Leave the session's stored matching as generation `keep` reads it: delete the rows a
    generation up to `keep` replaced, then what unfinished later attempts wrote. With
    `below`, only attempts under it (a job preparing generation `below` never touches a
    later attempt's rows)."""
    scope = quote_name(connection, MatchingScope._meta.db_table)
    upper = " AND generation < %(below)s" if below is not None else ""
    params = {"session": session.pk, "keep": keep, "below": below}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(MAX(CASE WHEN employee_id IS NULL THEN generation END), 0), "  # noqa: S608
            f"COUNT(employee_id) FROM {scope} WHERE session_id = %(session)s "
            "AND generation <= %(keep)s",
            params,
        )
        whole, listed = cursor.fetchone()
        # Separate statements, each a plain scan or (semi-)join, and only those needed.
        replaced = [f"generation > %(keep)s{upper}"]
        if whole:
            replaced.append("generation < %(whole)s")
        if listed:
            replaced.append(
                "EXISTS (SELECT 1 FROM {scope} s WHERE s.session_id = %(session)s "
                "AND s.employee_id = {table}.employee_id AND s.generation > {table}.generation "
                "AND s.generation <= %(keep)s)"
            )
        for model in (LinePair, UnmatchedLine):
            table = quote_name(connection, model._meta.db_table)
            for condition in replaced:
                cursor.execute(
                    f"DELETE FROM {table} WHERE session_id = %(session)s AND "  # noqa: S608
                    + condition.format(scope=scope, table=table),
                    {**params, "whole": whole},
                )
        cursor.execute(
            f"DELETE FROM {scope} WHERE session_id = %(session)s "  # noqa: S608
            f"AND (generation <= %(keep)s OR (generation > %(keep)s{upper}))",
            params,
        )


def generation_write(
    session: ProcessingSession,
    *,
    generation: int,
    basis: MatchingBasis,
    manual: list[ManualDecision],
    connection: BaseDatabaseWrapper = default_connection,
) -> MatchingOutcome:
    """Write `generation` (which holds no rows) after the one in effect: list the employees
    to pair again (their older rows are replaced from here on) and pair them — the manual
    pairs of `manual` (the decisions in effect, pointing at their lines as they are now),
    the `same_day` round in one statement, then the rounds over what it leaves."""
    outcome = MatchingOutcome()
    version_ids = list(basis.version_ids)
    with joins_by_hash(connection):
        scoped = scope_write(session, generation, basis, manual, connection)
        outcome.scope = scoped
        matched = [d for d in manual if d.kind == ManualDecision.Kind.MATCH]
        held = Held(
            card_line_ids=sorted({d.card_line_id for d in manual if d.card_line_id is not None}),
            receipt_line_ids=sorted(
                {d.receipt_line_id for d in matched if d.receipt_line_id is not None}
            ),
        )
        ordinals = receipt_ordinals(session.pk, {d.employee_id for d in matched}, version_ids)
        rows_insert(
            connection,
            LinePair._meta.db_table,
            [*PAIR_COLUMNS, "decision_id"],
            [
                (session.pk, generation, d.employee_id, d.card_line_id, d.receipt_line_id,
                 ordinals.get(d.receipt_line_id or 0), Rule.MANUAL, d.pk)
                for d in matched
            ],
        )  # fmt: skip
        outcome.pairs += len(matched)
        scope = Scope(session.pk, generation, scoped is not None)
        if version_ids:
            with connection.cursor() as cursor:
                sql, params = same_day_sql(connection, scope, version_ids, held)
                cursor.execute(sql, params)
                outcome.pairs += max(cursor.rowcount, 0)
        leftovers_pair(connection, scope, version_ids, held, outcome)
    return outcome


def receipt_ordinals(
    session_id: int, employee_ids: set[str], version_ids: list[int]
) -> dict[int, int]:
    """Receipt line id → its place among its employee's lines in effect."""
    if not employee_ids or not version_ids:
        return {}
    found: dict[int, int] = {}
    places: dict[str, int] = defaultdict(int)
    for row in receipt_line_values(session_id, employee_ids, version_ids):
        places[row["employee_id"]] += 1
        found[row["id"]] = places[row["employee_id"]]
    return found


def employee_matching_store(
    session: ProcessingSession,
    *,
    employee_id: str,
    version_ids: list[int],
    actor: Any = None,
    connection: BaseDatabaseWrapper = default_connection,
) -> MatchingOutcome:
    """Pair one employee again from scratch, exactly as the recalculation would (the same
    decisions first, the same rounds), and replace their rows in the generation in
    effect."""
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
         row["amount"], 0, row["receipt_version__version"], row["merchant"], ordinal)
        for ordinal, row in enumerate(
            receipt_line_values(session.pk, [employee_id], version_ids), start=1
        )
    ]  # fmt: skip
    ordinals = {row[1]: row[9] for row in receipts}
    matched = [d for d in manual if d.kind == ManualDecision.Kind.MATCH]
    held = {d.card_line_id for d in manual}
    manual_receipts = {d.receipt_line_id for d in matched}
    rows_insert(
        connection,
        LinePair._meta.db_table,
        [*PAIR_COLUMNS, "decision_id"],
        [
            (session.pk, generation, employee_id, d.card_line_id, d.receipt_line_id,
             ordinals.get(d.receipt_line_id), Rule.MANUAL, d.pk)
            for d in matched
        ],
    )  # fmt: skip
    outcome.pairs += len(matched)
    paired_cards = {d.card_line_id for d in matched}
    cards = [(*row[:6], 1 if row[1] in held else 0) for row in cards if row[1] not in paired_cards]
    receipts = [row for row in receipts if row[1] not in manual_receipts]
    pair_and_store(connection, session.pk, generation, {employee_id: (cards, receipts)}, outcome)
    return outcome
