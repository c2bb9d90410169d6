"""What parsing a file gives: its lines, its summary rows and the import summary."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from functools import cached_property
from typing import Any

from .amounts import ZERO

# The warnings an import summary lists; the count says how many there were.
MAX_LISTED_WARNINGS = 50


@dataclass(frozen=True, slots=True)
class ParsedLine:
    line_number: int
    employee_id: str
    employee_name: str
    amount: Decimal
    date: datetime.date | None
    merchant: str
    receipt_id: str


def _line_maker() -> Callable[[int, str, str, Decimal, datetime.date | None, str, str], ParsedLine]:
    """ParsedLine(...) for the reading loop. A frozen dataclass's __init__ sets each field
    through object.__setattr__; the slot descriptors set them three times faster."""
    set_line, set_id, set_name, set_amount, set_date, set_merchant, set_receipt = (
        getattr(ParsedLine, item.name).__set__ for item in fields(ParsedLine)
    )
    new = object.__new__

    def make(
        line_number: int,
        employee_id: str,
        employee_name: str,
        amount: Decimal,
        date: datetime.date | None,
        merchant: str,
        receipt_id: str,
    ) -> ParsedLine:
        line = new(ParsedLine)
        set_line(line, line_number)
        set_id(line, employee_id)
        set_name(line, employee_name)
        set_amount(line, amount)
        set_date(line, date)
        set_merchant(line, merchant)
        set_receipt(line, receipt_id)
        return line

    return make


make_line = _line_maker()


@dataclass(frozen=True)
class SubtotalRow:
    """A summary row that is not the file's control total: a labelled subtotal, or a row
    naming nobody that holds only an amount. `agrees` when it equals its block (the
    lines since the previous summary row) or the running total (every line above)."""

    line_number: int
    amount: Decimal
    block_sum: Decimal
    agrees: bool
    running_sum: Decimal = ZERO
    labelled: bool = True


@dataclass(frozen=True)
class ControlTotal:
    line_number: int
    amount: Decimal
    lines_sum: Decimal  # every line above it


@dataclass(frozen=True)
class ImportSummary:
    """What an operator checks before trusting an upload (SPEC §4)."""

    lines_read: int
    employees: int
    total_amount: Decimal
    blank_rows: int
    summary_rows_agreeing: int
    summary_rows_not_agreeing: int
    control_total: Decimal | None
    unassigned_lines: int = 0
    warnings: list[str] = field(default_factory=list)
    warning_count: int = 0

    @property
    def summary_rows(self) -> int:
        return self.summary_rows_agreeing + self.summary_rows_not_agreeing

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (amounts as strings with two places), as stored and returned."""
        return {
            "lines_read": self.lines_read,
            "employees": self.employees,
            "total_amount": str(self.total_amount),
            "blank_rows": self.blank_rows,
            "summary_rows": self.summary_rows,
            "summary_rows_agreeing": self.summary_rows_agreeing,
            "summary_rows_not_agreeing": self.summary_rows_not_agreeing,
            "control_total": None if self.control_total is None else str(self.control_total),
            "unassigned_lines": self.unassigned_lines,
            "warnings": list(self.warnings),
            "warning_count": self.warning_count,
        }

    def as_text(self) -> list[str]:
        """The summary as lines of plain text, for the command line."""
        agreeing, disagreeing = self.summary_rows_agreeing, self.summary_rows_not_agreeing
        text = [
            f"Lines read: {self.lines_read:,}",
            f"Employees: {self.employees:,}",
            f"Total amount: {self.total_amount:,.2f}",
            f"Blank rows: {self.blank_rows:,}",
            f"Summary rows: {self.summary_rows:,} ({agreeing:,} agreeing, "
            f"{disagreeing:,} not agreeing)",
            "Control total: "
            + ("none" if self.control_total is None else f"{self.control_total:,.2f}"),
        ]
        if self.unassigned_lines:
            text.append(f"Lines of charges without an employee id: {self.unassigned_lines:,}")
        text.extend(f"Warning: {warning}" for warning in self.warnings)
        if self.warning_count > len(self.warnings):
            text.append(f"... and {self.warning_count - len(self.warnings):,} more warnings")
        return text


@dataclass(frozen=True)
class ParsedFile:
    lines: list[ParsedLine]
    file_format: str
    encoding: str | None
    delimiter: str | None
    decimal_separator: str
    header_line: int
    columns: dict[str, str]
    blank_rows: int
    subtotals: list[SubtotalRow]
    control_totals: list[ControlTotal]
    warnings: list[str] = field(default_factory=list)
    unassigned_lines: int = 0

    @property
    def total_amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @cached_property
    def summary(self) -> ImportSummary:
        agreeing = sum(1 for row in self.subtotals if row.agrees) + len(self.control_totals)
        return ImportSummary(
            lines_read=len(self.lines),
            employees=len({line.employee_id for line in self.lines}),
            total_amount=self.total_amount,
            blank_rows=self.blank_rows,
            summary_rows_agreeing=agreeing,
            summary_rows_not_agreeing=sum(1 for row in self.subtotals if not row.agrees),
            control_total=self.control_totals[-1].amount if self.control_totals else None,
            unassigned_lines=self.unassigned_lines,
            warnings=self.warnings[:MAX_LISTED_WARNINGS],
            warning_count=len(self.warnings),
        )


def import_summary_sentence(summary: dict[str, Any]) -> str:
    """A stored summary (`ImportSummary.as_dict()`) in one sentence, for a message."""
    if not summary:
        return ""
    agreeing, disagreeing = summary["summary_rows_agreeing"], summary["summary_rows_not_agreeing"]
    parts = [
        f"{summary['lines_read']:,} lines",
        f"{summary['employees']:,} employees",
        f"total {Decimal(summary['total_amount']):,.2f}",
    ]
    if summary["blank_rows"]:
        parts.append(f"{summary['blank_rows']:,} blank rows")
    if agreeing or disagreeing:
        parts.append(f"{agreeing + disagreeing:,} summary rows ({disagreeing:,} not agreeing)")
    if summary["control_total"] is not None:
        parts.append(f"control total {Decimal(summary['control_total']):,.2f} agrees")
    if summary.get("unassigned_lines"):
        parts.append(f"{summary['unassigned_lines']:,} charges without an employee id")
    sentence = "Import summary: " + ", ".join(parts) + "."
    if summary["warning_count"]:
        sentence += f" {summary['warning_count']:,} warning(s): " + "; ".join(
            summary["warnings"][:3]
        )
    return sentence
