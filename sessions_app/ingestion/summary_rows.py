"""The rows of a file that name nobody (SPEC §4, in this order): a labelled summary row
(checked against its block or every line above), a charge without an employee id (an
error, or a line of the profile's `unassigned_employee_id`), an unlabelled summary row
(checked; one agreeing with nothing is a warning), or a note without an amount."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from core.errors import RowError

from .amounts import ZERO, format_amount
from .keyless import cells_text, classify
from .results import ControlTotal, SubtotalRow

if TYPE_CHECKING:
    from .layout import Layout
    from .reader import RawRow


class SummaryRowRules:
    """The keyless-row half of the row reader; it shares the reader's sums and lists."""

    layout: Layout
    separator: str
    unassigned_employee_id: str
    errors: list[RowError]
    warnings: list[str]
    subtotals: list[SubtotalRow]
    control_totals: list[ControlTotal]
    note_rows: list[int]
    blank_rows: int
    _sum_above: Decimal
    _lines_above: int
    _block_sum: Decimal
    _sums_reliable: bool
    _amount: Callable[..., Decimal | None]
    _error: Callable[..., None]
    _read_line: Callable[..., None]

    def read_keyless(self, row: RawRow) -> None:
        layout = self.layout
        kind = classify(row, index=layout.index, evidence=layout.evidence, separator=self.separator)
        if kind.label is not None:
            self._labelled_summary(row, kind.label)
        elif not layout.text(row, "amount"):
            self.note_rows.append(row.line_number)  # e.g. "End of report": no money
        elif kind.carries_transaction:
            self._charge_without_employee(row)
        else:
            self._unlabelled_summary(row)

    def _charge_without_employee(self, row: RawRow) -> None:
        if self.unassigned_employee_id:
            self._read_line(row, self.unassigned_employee_id, "", unassigned=True)
            return
        self.errors.append(
            RowError(
                row.line_number,
                self.layout.headers.get("employee_id"),
                "",
                "a charge without an employee id ("
                + cells_text(row, self.layout.all_headers)
                + "); fill in the employee id, or set unassigned_employee_id in the "
                "import profile to collect such charges",
            )
        )
        self._amount(row, missing="amount is missing")
        self._sums_reliable = False  # the file meant this row as a line

    def _labelled_summary(self, row: RawRow, label: str) -> None:
        if not self.layout.text(row, "amount"):
            if label == "total":
                self._error(row, "amount", "control total has no amount")
            else:
                self.blank_rows += 1  # a "Subtotal" heading without a figure: no money
            return
        amount = self._amount(row, missing="amount is missing")
        if amount is None:
            return
        block, above = self._block_sum, self._sum_above
        if label == "total" and (amount == above or amount != block or not self._sums_reliable):
            self._control_total(row, amount)
        else:
            # A subtotal, or a "Total" equal to its block (a cardholder's total).
            self._summary_row(row, amount, labelled=True)

    def _control_total(self, row: RawRow, amount: Decimal) -> None:
        if self._sums_reliable and amount != self._sum_above:
            lines = "line" if self._lines_above == 1 else "lines"
            self._error(
                row,
                "amount",
                f"control total {format_amount(amount)} does not match the sum of the "
                f"{self._lines_above} {lines} above it ({format_amount(self._sum_above)}): "
                "the file may be truncated or edited",
            )
        self.control_totals.append(ControlTotal(row.line_number, amount, self._sum_above))
        self._block_sum = ZERO

    def _unlabelled_summary(self, row: RawRow) -> None:
        amount = self._amount(row, missing="amount is missing")
        if amount is not None:
            self._summary_row(row, amount, labelled=False)

    def _summary_row(self, row: RawRow, amount: Decimal, *, labelled: bool) -> None:
        block, above = self._block_sum, self._sum_above
        agrees = amount in (block, above)
        self.subtotals.append(
            SubtotalRow(row.line_number, amount, block, agrees, above, labelled=labelled)
        )
        self._block_sum = ZERO
        if not agrees and self._sums_reliable:
            kind = "subtotal" if labelled else "row without an employee id"
            self.warnings.append(
                f"line {row.line_number}: {kind} {format_amount(amount)} agrees neither with "
                f"the lines since the previous summary row ({format_amount(block)}) nor with "
                f"the total of every line above it ({format_amount(above)}); it was not "
                "counted as a charge"
            )

    def note_warning(self) -> None:
        """One warning for the rows that held neither an employee nor an amount."""
        if self.note_rows:
            shown = ", ".join(str(line) for line in self.note_rows[:10])
            more = f" and {len(self.note_rows) - 10} more" if len(self.note_rows) > 10 else ""
            self.warnings.append(
                f"{len(self.note_rows)} row(s) with neither an employee nor an amount were "
                f"skipped (lines {shown}{more})"
            )
