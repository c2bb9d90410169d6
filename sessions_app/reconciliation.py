"""The reconciliation rules of SPEC §5, pure: lines in, per-employee results out.

"Line-like" means any object with `employee_id`, `employee_name`, `amount`, `date` and
`receipt_id` attributes: ParsedLine from ingestion and the Django line models alike.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeVar

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

STATUS_MATCHED = "matched"
STATUS_MISSING_RECEIPTS = "missing_receipts"
STATUS_EXCESS_RECEIPTS = "excess_receipts"
STATUS_NO_CARD_ACTIVITY = "no_card_activity"
STATUS_RESOLVED = "resolved"

STATUS_LABELS: dict[str, str] = {
    STATUS_MATCHED: "Matched",
    STATUS_MISSING_RECEIPTS: "Missing receipts",
    STATUS_EXCESS_RECEIPTS: "Excess receipts",
    STATUS_NO_CARD_ACTIVITY: "No card activity",
    STATUS_RESOLVED: "Resolved",
}
EXPORT_READY_STATUSES = frozenset({STATUS_MATCHED, STATUS_RESOLVED})

MODE_REPLACE = "replace"
MODE_APPEND = "append"
RECEIPT_MODES = (MODE_REPLACE, MODE_APPEND)


class LineLike(Protocol):
    @property
    def employee_id(self) -> str: ...
    @property
    def employee_name(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def date(self) -> datetime.date | None: ...
    @property
    def receipt_id(self) -> str: ...


LineT = TypeVar("LineT", bound=LineLike)


@dataclass(frozen=True)
class EmployeeResult:
    employee_id: str
    employee_name: str
    car_amount: Decimal
    receipt_amount: Decimal
    difference: Decimal  # receipt - car: negative means receipts are missing
    status: str
    has_card_lines: bool

    @property
    def export_ready(self) -> bool:
        return self.status in EXPORT_READY_STATUSES


def classify(
    *,
    car_amount: Decimal | int,
    receipt_amount: Decimal | int,
    tolerance: Decimal | int,
    has_card_lines: bool,
) -> str:
    """The computed status of one employee (`resolved` is an operator's decision, never
    computed). Without card lines it is always no_card_activity: there is no charge to
    match, so such an employee must never become export-ready by falling in tolerance.
    The three amounts may be in any one unit (the recalculation passes integer cents)."""
    if tolerance < 0:
        raise ValueError("tolerance cannot be negative")
    if not has_card_lines:
        return STATUS_NO_CARD_ACTIVITY
    difference: Decimal | int = receipt_amount - car_amount
    gap = -difference if difference < 0 else difference
    if gap <= tolerance:
        return STATUS_MATCHED
    if difference < 0:
        return STATUS_MISSING_RECEIPTS
    return STATUS_EXCESS_RECEIPTS


def reconcile(
    card_lines: Iterable[LineLike],
    receipt_lines: Iterable[LineLike],
    *,
    tolerance: Decimal,
) -> list[EmployeeResult]:
    """One result per employee of the union of card and receipt ids, sorted by id."""
    card = _Totals(card_lines)
    receipts = _Totals(receipt_lines)
    employee_ids = sorted(card.amounts.keys() | receipts.amounts.keys())
    return [_result(employee_id, card, receipts, tolerance) for employee_id in employee_ids]


def _result(
    employee_id: str, card: _Totals, receipts: _Totals, tolerance: Decimal
) -> EmployeeResult:
    car_amount = card.amounts.get(employee_id, ZERO)
    receipt_amount = receipts.amounts.get(employee_id, ZERO)
    has_card_lines = employee_id in card.amounts
    return EmployeeResult(
        employee_id=employee_id,
        # SPEC §4: the name comes from the statement; from receipts only as a fallback.
        employee_name=card.names.get(employee_id) or receipts.names.get(employee_id, ""),
        car_amount=car_amount,
        receipt_amount=receipt_amount,
        difference=(receipt_amount - car_amount).quantize(CENT),
        status=classify(
            car_amount=car_amount,
            receipt_amount=receipt_amount,
            tolerance=tolerance,
            has_card_lines=has_card_lines,
        ),
        has_card_lines=has_card_lines,
    )


class _Totals:
    """Sum of amounts and first non-empty name per employee id."""

    def __init__(self, lines: Iterable[LineLike]) -> None:
        self.amounts: dict[str, Decimal] = {}
        self.names: dict[str, str] = {}
        for line in lines:
            employee_id = str(line.employee_id).strip()
            amount = Decimal(line.amount).quantize(CENT)
            self.amounts[employee_id] = self.amounts.get(employee_id, ZERO) + amount
            name = (line.employee_name or "").strip()
            if name and not self.names.get(employee_id):
                self.names[employee_id] = name


def receipt_line_key(line: LineLike) -> tuple[Hashable, ...]:
    """What makes two receipt lines "the same receipt" for append mode (SPEC §4):
    employee, date, amount, receipt id. Amounts compare by value (80.0 == 80.00)."""
    return (
        str(line.employee_id).strip(),
        line.date,
        Decimal(line.amount).quantize(CENT),
        (line.receipt_id or "").strip(),
    )


def skip_held_duplicates(
    new_lines: Iterable[LineT], held_lines: Iterable[LineLike]
) -> tuple[list[LineT], int]:
    """The new lines not already held, and how many were skipped. It counts copies: a
    receipt held once skips one occurrence, so two genuine identical coffees in the new
    file are not both lost to one held line."""
    held = Counter(receipt_line_key(line) for line in held_lines)
    kept: list[LineT] = []
    skipped = 0
    for line in new_lines:
        key = receipt_line_key(line)
        if held[key] > 0:
            held[key] -= 1
            skipped += 1
        else:
            kept.append(line)
    return kept, skipped


def apply_receipt_versions(versions: Sequence[tuple[str, list[Any]]]) -> tuple[list[Any], int]:
    """The receipt lines in effect after applying `versions` in order, as (mode, lines).
    `replace` starts over; `append` adds the lines not already held. The count is the
    duplicates skipped since the last replace, i.e. among the versions still in effect."""
    in_effect: list[Any] = []
    skipped = 0
    for mode, lines in versions:
        if mode == MODE_REPLACE:
            in_effect, skipped = list(lines), 0
        elif mode == MODE_APPEND:
            kept, duplicates = skip_held_duplicates(lines, in_effect)
            in_effect = in_effect + kept
            skipped += duplicates
        else:
            raise ValueError(f"unknown receipt version mode {mode!r}; use replace or append")
    return in_effect, skipped
