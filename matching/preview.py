"""What a recalculation waiting for confirmation would change in the pairs (SPEC §7, §14).

A preview job stops before its apply, so nothing is stored yet: the employees its diff lists
are paired here as the apply would pair them (the operator's decisions first, then the
rounds) and compared with their stored pairs. Lines are compared by what they say (date,
merchant or receipt id, amount), since a new receipts version gives its lines new ids."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from matching.identity import (
    LineIdentity,
    card_identities,
    card_line_values,
    receipt_identities,
    receipt_line_values,
)
from matching.models import LinePair, ManualDecision, Rule, UnmatchedLine
from matching.rounds import CardRef, ReceiptRef, pair_lines
from matching.selectors import ReceiptPlaces
from sessions_app.models import CardTransaction, ProcessingSession

EMPLOYEES_PREVIEWED = 200
PAIRS_LISTED = 20


def _label(date: Any, text: str, amount: Any) -> str:
    return " ".join(
        part for part in (f"{date:%Y-%m-%d}" if date else "undated", text, f"{amount:.2f}") if part
    )


def _card_label(row: Mapping[str, Any]) -> str:
    return _label(row["transaction_date"], row["merchant"], row["amount"])


def _receipt_label(row: Mapping[str, Any]) -> str:
    return _label(row["receipt_date"], row["receipt_id"], row["amount"])


def pairs_preview(
    session: ProcessingSession, *, version_ids: list[int], employee_ids: list[str]
) -> list[dict[str, Any]]:
    """Per employee whose pairs would change: the pairs added and removed (as "card ↔
    receipt (rule)") and the unmatched charges before and after. A fixed number of
    queries for up to EMPLOYEES_PREVIEWED employees."""
    employees = employee_ids[:EMPLOYEES_PREVIEWED]
    if not employees:
        return []
    after = _pairs_after(session, version_ids, employees)
    before = _pairs_before(session, employees)
    changes = []
    for employee_id in employees:
        old_pairs, old_unmatched = before.get(employee_id, (set(), (0, Decimal(0))))
        new_pairs, new_unmatched = after.get(employee_id, (set(), (0, Decimal(0))))
        if old_pairs == new_pairs and old_unmatched == new_unmatched:
            continue
        changes.append(
            {
                "employee_id": employee_id,
                "pairs_added": sorted(new_pairs - old_pairs)[:PAIRS_LISTED],
                "pairs_removed": sorted(old_pairs - new_pairs)[:PAIRS_LISTED],
                "unmatched_charges_before": old_unmatched[0],
                "unmatched_charges_after": new_unmatched[0],
                "unmatched_amount_before": f"{old_unmatched[1]:.2f}",
                "unmatched_amount_after": f"{new_unmatched[1]:.2f}",
            }
        )
    return changes


def _pairs_after(
    session: ProcessingSession, version_ids: list[int], employees: list[str]
) -> dict[str, tuple[set[str], tuple[int, Decimal]]]:
    cards = card_line_values(session.pk, employees)
    receipts = receipt_line_values(session.pk, employees, version_ids)
    card_ids, receipt_ids = card_identities(cards), receipt_identities(receipts)
    card_rows = {row["id"]: row for row in cards}
    receipt_rows = {row["id"]: row for row in receipts}
    manual: dict[str, set[str]] = defaultdict(set)
    kept_out: set[int] = set()  # card lines of a decision: out of the rounds
    paired_cards: set[int] = set()
    used: set[int] = set()
    decisions = ManualDecision.objects.filter(
        session=session, employee_id__in=employees, ended_at__isnull=True
    ).order_by("decided_at", "id")
    for decision in decisions:
        card_id = card_ids.get(
            LineIdentity(
                decision.employee_id, decision.card_date, decision.card_amount,
                decision.card_merchant, decision.card_occurrence,
            )
        )  # fmt: skip
        if card_id is None:
            continue
        if decision.kind == ManualDecision.Kind.UNMATCH or decision.receipt_amount is None:
            kept_out.add(card_id)
            continue
        receipt_id = receipt_ids.get(
            LineIdentity(
                decision.employee_id, decision.receipt_date, decision.receipt_amount,
                decision.receipt_ref, decision.receipt_occurrence or 1,
            )
        )  # fmt: skip
        if receipt_id is None:  # the match ends: its card line is free again
            continue
        kept_out.add(card_id)
        paired_cards.add(card_id)
        used.add(receipt_id)
        manual[decision.employee_id].add(
            f"{_card_label(card_rows[card_id])} ↔ {_receipt_label(receipt_rows[receipt_id])} "
            f"({Rule.MANUAL})"
        )
    result: dict[str, tuple[set[str], tuple[int, Decimal]]] = {}
    for employee_id in employees:
        mine = [r for r in cards if r["employee_id"] == employee_id]
        free_cards = [
            CardRef(r["id"], r["line_number"], r["transaction_date"], _cents(r["amount"]))
            for r in mine
            if r["id"] not in kept_out
        ]
        free_receipts = [
            ReceiptRef(
                r["id"], r["receipt_version__version"], r["line_number"], r["receipt_date"],
                _cents(r["amount"]),
            )
            for r in receipts
            if r["employee_id"] == employee_id and r["id"] not in used
        ]  # fmt: skip
        pairs = set(manual[employee_id])
        for pair in pair_lines(free_cards, free_receipts):
            paired_cards.add(pair.card_line_id)
            pairs.add(
                f"{_card_label(card_rows[pair.card_line_id])} ↔ "
                f"{_receipt_label(receipt_rows[pair.receipt_line_id])} ({pair.rule})"
            )
        unmatched = [r["amount"] for r in mine if r["id"] not in paired_cards]
        result[employee_id] = (pairs, (len(unmatched), sum(unmatched, Decimal(0))))
    return result


def _cents(amount: Decimal) -> int:
    return int(Decimal(amount).scaleb(2))


def _pairs_before(
    session: ProcessingSession, employees: list[str]
) -> dict[str, tuple[set[str], tuple[int, Decimal]]]:
    stored = list(LinePair.objects.of_session(session).of_employees(session.pk, employees))
    cards = {
        row["id"]: row
        for row in CardTransaction.objects.filter(pk__in=[p.card_line_id for p in stored]).values(
            "id", "transaction_date", "merchant", "amount"
        )
    }
    places = ReceiptPlaces.of_employees(session, employees)
    places.load_missing([(p.employee_id, p.receipt_ordinal, p.receipt_line_id) for p in stored])
    receipts = {}
    for pair in stored:
        line = places.line(pair.employee_id, pair.receipt_ordinal, pair.receipt_line_id)
        receipts[pair.pk] = {"receipt_date": line.date, "receipt_id": line.receipt_id,
                             "amount": line.amount}  # fmt: skip
    pairs: dict[str, set[str]] = defaultdict(set)
    for pair in stored:
        card, receipt = cards.get(pair.card_line_id), receipts.get(pair.pk)
        if card and receipt:
            pairs[pair.employee_id].add(
                f"{_card_label(card)} ↔ {_receipt_label(receipt)} ({pair.rule})"
            )
    unmatched: dict[str, list[Decimal]] = defaultdict(list)
    for employee_id, amount in (
        UnmatchedLine.objects.of_session(session)
        .filter(employee_id__in=employees, side=UnmatchedLine.Side.CARD)
        .values_list("employee_id", "amount")
    ):
        unmatched[employee_id].append(amount)
    return {
        employee_id: (
            pairs[employee_id],
            (len(unmatched[employee_id]), sum(unmatched[employee_id], Decimal(0))),
        )
        for employee_id in employees
    }
