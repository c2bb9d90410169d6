"""The pairing rounds of SPEC §14 for one employee's lines, in plain Python.

Within an employee, card lines are paired one-to-one with receipt lines in rounds, each over
the lines still unpaired: `same_day` (equal amount to the cent, equal date), `near_date`
(equal amount, dates at most 3 days apart), `amount_only` (equal amount). Card lines take
their turn by (date, line number; missing dates last); each takes the candidate receipt with
the smallest date distance (a missing date is farther than any date), then the earliest
(version, line number). Nothing here depends on the order the lines are given in.

The recalculation pairs the `same_day` round of a whole session in SQL (matching.pairing)
and hands only the lines it leaves to `pair_lines`; the same function pairs any employee
from scratch (a preview), which gives the same pairs."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

NEAR_DATE_DAYS = 3
# Farther than any two dates can be: a missing date.
NO_DISTANCE = 10**9


class CardRef(NamedTuple):
    id: int
    line_number: int
    date: datetime.date | None
    cents: int


class ReceiptRef(NamedTuple):
    id: int
    version: int
    line_number: int
    date: datetime.date | None
    cents: int


class AutoPair(NamedTuple):
    card_line_id: int
    receipt_line_id: int
    rule: str


def card_turn(card: CardRef) -> tuple[bool, datetime.date, int, int]:
    return (card.date is None, card.date or datetime.date.min, card.line_number, card.id)


def receipt_order(receipt: ReceiptRef) -> tuple[int, int, int]:
    return (receipt.version, receipt.line_number, receipt.id)


def date_distance(first: datetime.date | None, second: datetime.date | None) -> int:
    if first is None or second is None:
        return NO_DISTANCE
    return abs((first - second).days)


def pair_lines(cards: Iterable[CardRef], receipts: Iterable[ReceiptRef]) -> list[AutoPair]:
    """The three rounds over one employee's lines that are free to pair automatically."""
    turns = sorted(cards, key=card_turn)
    free: dict[int, list[ReceiptRef]] = defaultdict(list)
    for receipt in sorted(receipts, key=receipt_order):
        free[receipt.cents].append(receipt)
    pairs: list[AutoPair] = []
    for rule, within in (("same_day", 0), ("near_date", NEAR_DATE_DAYS), ("amount_only", None)):
        waiting: list[CardRef] = []
        for card in turns:
            chosen = _best_candidate(card, free.get(card.cents), within)
            if chosen is None:
                waiting.append(card)
                continue
            free[card.cents].remove(chosen)
            pairs.append(AutoPair(card.id, chosen.id, rule))
        turns = waiting
    return pairs


def _best_candidate(
    card: CardRef, candidates: list[ReceiptRef] | None, within: int | None
) -> ReceiptRef | None:
    """Candidates are in (version, line number) order, so the first of the nearest wins."""
    best: ReceiptRef | None = None
    best_distance = NO_DISTANCE + 1
    for receipt in candidates or ():
        distance = date_distance(card.date, receipt.date)
        if within is not None and distance > within:
            continue
        if distance < best_distance:
            best, best_distance = receipt, distance
    return best
