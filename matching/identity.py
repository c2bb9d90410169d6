"""How a line is recognised again after a new receipts version or card statement.

A receipt line's identity is (employee, date, amount, receipt id, occurrence): the
occurrence counts the effective lines of that employee carrying the same four values, in
(version, line number) order. A card line's is (employee, date, amount, merchant,
occurrence in line-number order). See matching.models for why."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

from sessions_app.models import CardTransaction, ReceiptLine


class LineIdentity(NamedTuple):
    employee_id: str
    date: datetime.date | None
    amount: Decimal
    text: str  # the merchant of a card line, the receipt id of a receipt line
    occurrence: int


def card_line_values(session_id: int, employee_ids: Iterable[str]) -> list[dict[str, Any]]:
    rows = (
        CardTransaction.objects.filter(session_id=session_id, employee_id__in=list(employee_ids))
        .order_by("employee_id", "line_number", "id")
        .values("id", "employee_id", "line_number", "transaction_date", "merchant", "amount")
    )
    return [dict(row) for row in rows]


def receipt_line_values(
    session_id: int, employee_ids: Iterable[str], version_ids: list[int]
) -> list[dict[str, Any]]:
    rows = (
        ReceiptLine.objects.filter(
            session_id=session_id,
            receipt_version_id__in=version_ids,
            employee_id__in=list(employee_ids),
        )
        .order_by("employee_id", "receipt_version__version", "line_number", "id")
        .values(
            "id",
            "employee_id",
            "line_number",
            "receipt_date",
            "receipt_id",
            "merchant",
            "amount",
            "receipt_version__version",
        )
    )
    return [dict(row) for row in rows]


def card_identities(rows: Iterable[dict[str, Any]]) -> dict[LineIdentity, int]:
    """Identity → line id, for card rows in (employee, line number) order."""
    return _identities(rows, date="transaction_date", text="merchant")


def receipt_identities(rows: Iterable[dict[str, Any]]) -> dict[LineIdentity, int]:
    """Identity → line id, for receipt rows in (employee, version, line number) order."""
    return _identities(rows, date="receipt_date", text="receipt_id")


def _identities(rows: Iterable[dict[str, Any]], *, date: str, text: str) -> dict[LineIdentity, int]:
    seen: dict[tuple[Any, ...], int] = defaultdict(int)
    found = {}
    for row in rows:
        values = (row["employee_id"], row[date], Decimal(row["amount"]), row[text] or "")
        seen[values] += 1
        found[LineIdentity(*values, seen[values])] = row["id"]
    return found


def identity_of(line_id: int, identities: dict[LineIdentity, int]) -> LineIdentity | None:
    for identity, found in identities.items():
        if found == line_id:
            return identity
    return None
