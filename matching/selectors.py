"""Reading the stored matching of a session (SPEC §14). Nothing here pairs anything: the
recalculation stored the pairs and the unmatched lines, these read them in a fixed number of
queries."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum

from matching.models import LinePair, ManualDecision, UnmatchedLine
from sessions_app.models import (
    ZERO,
    CardTransaction,
    EmployeeRevision,
    ProcessingSession,
    ReceiptLine,
)
from sessions_app.versions import receipt_lines_in_effect

CARD = UnmatchedLine.Side.CARD
RECEIPT = UnmatchedLine.Side.RECEIPT


def unmatched_charges(
    *, session: ProcessingSession, employee_ids: Iterable[str] | None = None
) -> QuerySet[UnmatchedLine]:
    """The chase list: every card line of the session without a receipt, as rows with
    `employee_id, employee_name, card_line_id, line_number, date, merchant, amount`
    (Decimal), ordered by employee id, then date (missing dates last) and line number.
    `employee_ids` narrows it to those employees. A stable interface: other apps build on it.
    """
    names = EmployeeRevision.objects.filter(
        session_id=session.pk, employee_id=OuterRef("employee_id")
    ).values("employee_name")[:1]
    charges = UnmatchedLine.objects.of_session(session).filter(side=CARD)
    if employee_ids is not None:
        charges = charges.filter(employee_id__in=list(employee_ids))
    return charges.annotate(employee_name=Subquery(names), card_line_id=F("line_id")).order_by(
        "employee_id", F("date").asc(nulls_last=True), "line_number", "line_id"
    )


def unmatched_charge_figures(
    *, session: ProcessingSession, employee_ids: Iterable[str] | None = None
) -> dict[str, tuple[int, Decimal]]:
    """Employee id → (number, amount) of their charges without a receipt; employees without
    any are absent."""
    charges = UnmatchedLine.objects.in_effect().filter(session_id=session.pk, side=CARD)
    if employee_ids is not None:
        charges = charges.filter(employee_id__in=list(employee_ids))
    rows = charges.values("employee_id").annotate(n=Count("id"), amount=Sum("amount"))
    return {row["employee_id"]: (row["n"], _money(row["amount"])) for row in rows}


def session_unmatched_totals(session_ids: Iterable[int]) -> dict[int, tuple[int, Decimal]]:
    """Session id → (number, amount) of charges without a receipt (analytics)."""
    rows = (
        UnmatchedLine.objects.in_effect()
        .filter(session_id__in=list(session_ids), side=CARD)
        .values("session_id")
        .annotate(n=Count("id"), amount=Sum("amount"))
    )
    return {row["session_id"]: (row["n"], _money(row["amount"])) for row in rows}


def _money(value: Decimal | None) -> Decimal:
    """SQLite adds decimals up as floating point: back to cents."""
    return (value or ZERO).quantize(Decimal("0.01"))


# --- One employee's lines ---------------------------------------------------------------------


@dataclass(frozen=True)
class LineView:
    side: str
    id: int
    line_number: int
    date: datetime.date | None
    merchant: str
    receipt_id: str
    amount: Decimal
    version: int | None
    held: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "line_number": self.line_number,
            "date": self.date,
            "merchant": self.merchant,
            "receipt_id": self.receipt_id,
            "amount": self.amount,
            "version": self.version,
        }

    @property
    def label(self) -> str:
        """How the explanation names a line: "2026-10-03 SHELL 45.00", "R-5009 9.99"."""
        if self.side == RECEIPT and self.receipt_id:
            words = [self.receipt_id]
        else:
            words = [f"{self.date:%Y-%m-%d}" if self.date else "undated", self.merchant]
        return " ".join(word for word in [*words, f"{self.amount:.2f}"] if word)


@dataclass(frozen=True)
class PairView:
    card_line: LineView
    receipt_line: LineView
    rule: str
    rule_label: str
    matched_by: str | None
    note: str
    decided_at: datetime.datetime | None


@dataclass
class EmployeeLines:
    """What SPEC §13's lines view answers, plus the explanation sentence."""

    employee_id: str
    pairs: list[PairView] = field(default_factory=list)
    unmatched_card_lines: list[LineView] = field(default_factory=list)
    unmatched_receipt_lines: list[LineView] = field(default_factory=list)
    version: int = 0

    @property
    def unmatched_card_amount(self) -> Decimal:
        return sum((line.amount for line in self.unmatched_card_lines), ZERO)

    @property
    def unmatched_receipt_amount(self) -> Decimal:
        return sum((line.amount for line in self.unmatched_receipt_lines), ZERO)

    @property
    def manual_pair_difference(self) -> Decimal:
        """Card minus receipt over manual pairs of unequal amounts: with the unmatched lines
        it makes up the whole difference."""
        return sum(
            (p.card_line.amount - p.receipt_line.amount for p in self.pairs if p.rule == "manual"),
            ZERO,
        )

    @property
    def explanation(self) -> str:
        return lines_explanation(self)


def lines_explanation(lines: EmployeeLines) -> str:
    """One sentence saying what makes up the difference, e.g. "2 charges without receipts:
    2026-10-03 SHELL 45.00, 2026-10-11 HILTON 212.10; 1 receipt without a charge: R-5009
    9.99"."""
    parts = []
    groups = (
        (lines.unmatched_card_lines, "charge without a receipt", "charges without receipts"),
        (lines.unmatched_receipt_lines, "receipt without a charge", "receipts without a charge"),
    )
    for group, one, many in groups:
        if group:
            listed = ", ".join(line.label for line in group)
            parts.append(f"{len(group)} {one if len(group) == 1 else many}: {listed}")
    difference = lines.manual_pair_difference
    if difference:
        parts.append(f"pairs matched by hand differ by {difference:.2f}")
    return "; ".join(parts)


def employee_lines(*, session: ProcessingSession, employee_id: str) -> EmployeeLines:
    """One employee's pairs (with their rule, who matched by hand and why) and unmatched
    lines, as stored: five queries whatever the number of lines."""
    result = EmployeeLines(employee_id=employee_id)
    pairs = list(
        LinePair.objects.in_effect()
        .of_employee(session.pk, employee_id)
        .select_related("decision__decided_by")
        .order_by("id")
    )
    cards = _card_lines({p.card_line_id for p in pairs})
    receipts = ReceiptPlaces.of_employees(session, [employee_id])
    receipts.load_missing([(employee_id, p.receipt_ordinal, p.receipt_line_id) for p in pairs])
    for pair in pairs:
        decision = pair.decision
        result.pairs.append(
            PairView(
                card_line=cards[pair.card_line_id],
                receipt_line=receipts.line(employee_id, pair.receipt_ordinal, pair.receipt_line_id),
                rule=pair.rule,
                rule_label=pair.get_rule_display(),
                matched_by=_username(decision.decided_by) if decision else None,
                note=decision.note if decision else "",
                decided_at=decision.decided_at if decision else None,
            )
        )
    result.pairs.sort(key=lambda p: _line_turn(p.card_line))
    for line in UnmatchedLine.objects.in_effect().filter(
        session_id=session.pk, employee_id=employee_id
    ):
        view = LineView(
            line.side, line.line_id, line.line_number, line.date, line.merchant,
            line.receipt_id, line.amount, line.version, line.held,
        )  # fmt: skip
        if line.side == RECEIPT:
            view = receipts.line(employee_id, line.ordinal, line.line_id, default=view)
        target = (
            result.unmatched_card_lines if line.side == CARD else result.unmatched_receipt_lines
        )
        target.append(view)
    result.unmatched_card_lines.sort(key=_line_turn)
    result.unmatched_receipt_lines.sort(key=lambda line: (line.version or 0, line.line_number))
    result.version = lines_version(session=session, employee_id=employee_id)
    return result


def lines_version(*, session: ProcessingSession, employee_id: str) -> int:
    """Grows with every decision taken on the employee's lines: a match or unmatch sends the
    version it saw, and a stale one is refused."""
    return ManualDecision.objects.filter(session_id=session.pk, employee_id=employee_id).count()


def _line_turn(line: LineView) -> tuple[bool, datetime.date, int]:
    return (line.date is None, line.date or datetime.date.min, line.line_number)


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _card_lines(ids: set[int]) -> dict[int, LineView]:
    rows = CardTransaction.objects.filter(pk__in=ids).values_list(
        "id", "line_number", "transaction_date", "merchant", "amount"
    )
    return {
        row[0]: LineView(CARD, row[0], row[1], row[2], row[3], "", row[4], None) for row in rows
    }


class ReceiptPlaces:
    """Employees' receipt lines in effect by their place (ordinal) in (version, line number)
    order: stored pairs and unmatched lines name a receipt line by its place, because an
    employee whose lines did not change keeps rows written for an earlier version's lines
    (matching.pairing)."""

    def __init__(self, lines: Iterable[tuple[str, LineView]]) -> None:
        self.by_place: dict[tuple[str, int], LineView] = {}
        self.by_id: dict[int, LineView] = {}
        places: dict[str, int] = {}
        for employee_id, line in lines:
            places[employee_id] = places.get(employee_id, 0) + 1
            self.by_place[(employee_id, places[employee_id])] = line
            self.by_id[line.id] = line

    @classmethod
    def of_employees(cls, session: ProcessingSession, employee_ids: list[str]) -> ReceiptPlaces:
        rows = (
            receipt_lines_in_effect(session)
            .filter(employee_id__in=employee_ids)
            .order_by("employee_id", "receipt_version__version", "line_number", "id")
            .values_list(
                "employee_id", "id", "line_number", "receipt_date", "merchant", "receipt_id",
                "amount", "receipt_version__version",
            )
        )  # fmt: skip
        return cls((row[0], LineView(RECEIPT, *row[1:])) for row in rows)

    def load_missing(self, wanted: Iterable[tuple[str, int | None, int]]) -> None:
        """Read the lines of rows whose place is unknown here by their stored id (rows
        stored before places were, or a receipts version switched in between)."""
        missing = {
            line_id
            for employee_id, place, line_id in wanted
            if (place is None or (employee_id, place) not in self.by_place)
            and line_id not in self.by_id
        }
        if missing:
            self.by_id.update(_receipt_lines(missing))

    def line(
        self,
        employee_id: str,
        place: int | None,
        line_id: int,
        default: LineView | None = None,
    ) -> LineView:
        if place is not None and (employee_id, place) in self.by_place:
            return self.by_place[(employee_id, place)]
        found = self.by_id.get(line_id, default)
        if found is None:
            raise KeyError(line_id)
        return found


def _receipt_lines(ids: set[int]) -> dict[int, LineView]:
    rows = ReceiptLine.objects.filter(pk__in=ids).values_list(
        "id", "line_number", "receipt_date", "merchant", "receipt_id", "amount",
        "receipt_version__version",
    )  # fmt: skip
    return {row[0]: LineView(RECEIPT, *row) for row in rows}


CHASE_ORDERING = ("employee_id", "employee_name", "date", "amount", "merchant")


def chase_list(
    *,
    session: ProcessingSession,
    employee: str | None = None,
    search: str | None = None,
    ordering: Iterable[str] = (),
) -> QuerySet[UnmatchedLine]:
    """The chase list filtered and sorted as the page and the API offer it. `ordering` takes
    CHASE_ORDERING names, `-` for descending; the chase order breaks ties."""
    charges = unmatched_charges(
        session=session, employee_ids=[employee] if employee is not None else None
    )
    if search:
        charges = charges.filter(
            Q(employee_id__icontains=search)
            | Q(merchant__icontains=search)
            | Q(employee_name__icontains=search)
        )
    keys = [key for key in ordering if key.lstrip("-") in CHASE_ORDERING]
    if keys:
        charges = charges.order_by(
            *keys, "employee_id", F("date").asc(nulls_last=True), "line_number", "line_id"
        )
    return charges
