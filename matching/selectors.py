"""Which card lines have no receipt (SPEC §14), read for the chase list.

An interim reading of the §14 rounds (same day, near date, amount only) over the effective
receipts, without manual pairs, until line matching stores its pairs."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sessions_app.models import CardTransaction, ProcessingSession
from sessions_app.selectors import receipt_lines_in_effect

NEAR_DAYS = 3
_FAR = datetime.timedelta(days=100_000)


@dataclass(frozen=True)
class UnmatchedCharge:
    employee_id: str
    employee_name: str
    card_line_id: int
    line_number: int
    date: datetime.date | None
    merchant: str
    amount: Decimal


def _distance(a: datetime.date | None, b: datetime.date | None) -> datetime.timedelta:
    return abs(a - b) if a is not None and b is not None else _FAR


def _unpaired(cards: list[CardTransaction], receipts: list[tuple]) -> list[CardTransaction]:
    cards = sorted(
        cards,
        key=lambda c: (
            c.transaction_date is None,
            c.transaction_date or datetime.date.min,
            c.line_number,
        ),
    )
    left = list(cards)
    free = list(receipts)
    for limit in (datetime.timedelta(0), datetime.timedelta(days=NEAR_DAYS), None):
        still = []
        for card in left:
            candidates = [
                r
                for r in free
                if r[2] == card.amount
                and (limit is None or _distance(card.transaction_date, r[3]) <= limit)
            ]
            if not candidates:
                still.append(card)
                continue
            best = min(
                candidates, key=lambda r: (_distance(card.transaction_date, r[3]), r[0], r[1])
            )
            free.remove(best)
        left = still
    return left


def unmatched_charges(
    *, session: ProcessingSession, employee_ids: Iterable[str] | None = None
) -> list[UnmatchedCharge]:
    cards = CardTransaction.objects.filter(session=session)
    receipts = receipt_lines_in_effect(session)
    if employee_ids is not None:
        ids = list(employee_ids)
        cards = cards.filter(employee_id__in=ids)
        receipts = receipts.filter(employee_id__in=ids)
    by_employee: dict[str, list[CardTransaction]] = defaultdict(list)
    for card in cards:
        by_employee[card.employee_id].append(card)
    receipt_rows: dict[str, list[tuple]] = defaultdict(list)
    for row in receipts.values_list(
        "employee_id", "receipt_version__version", "line_number", "amount", "receipt_date"
    ):
        receipt_rows[row[0]].append(row[1:])
    result = []
    for employee_id in sorted(by_employee):
        for card in _unpaired(by_employee[employee_id], receipt_rows[employee_id]):
            result.append(
                UnmatchedCharge(
                    employee_id=card.employee_id,
                    employee_name=card.employee_name,
                    card_line_id=card.pk,
                    line_number=card.line_number,
                    date=card.transaction_date,
                    merchant=card.merchant,
                    amount=card.amount,
                )
            )
    return result
