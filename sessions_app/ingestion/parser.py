"""Rows to a ParsedFile: header, columns, lines, subtotals, control totals, every error."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sessions_app.errors import InvalidFile, RowError

from .amounts import ZERO, AmountFormatError, amount_from_number, format_amount, parse_amount
from .columns import ColumnsNotFound, match_columns, missing_roles
from .dates import detect_date_format, example_date, parse_date, to_strptime
from .profile import ImportSettings
from .reader import SAMPLE_RECORDS, Cell, RawRow, RawTable, file_error, read_table

BYTES_PER_MB = 1024 * 1024
# "Subtotal", "Sub-total", "SUB TOTAL" are block sums, not the file's control total.
_SUBTOTAL = re.compile(r"sub[\s\-_]*total")
_TOTAL_WORD = re.compile(r"\btotals?\b")
# A key or name cell holding only such a label names no employee.
_TOTAL_LABEL = re.compile(r"(grand\s*)?(sub[\s\-_]*)?totals?\s*:?")


@dataclass(frozen=True)
class ParsedLine:
    line_number: int
    employee_id: str
    employee_name: str
    amount: Decimal
    date: datetime.date | None
    merchant: str
    receipt_id: str


@dataclass(frozen=True)
class SubtotalRow:
    line_number: int
    amount: Decimal
    block_sum: Decimal  # the lines since the previous subtotal or control total
    agrees: bool


@dataclass(frozen=True)
class ControlTotal:
    line_number: int
    amount: Decimal
    lines_sum: Decimal  # every line above it


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

    @property
    def total_amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


@dataclass(frozen=True)
class _Layout:
    """Where each role sits in the rows, and its header as written in the file."""

    index: Mapping[str, int]
    headers: Mapping[str, str]

    def cell(self, row: RawRow, role: str) -> Cell:
        position = self.index.get(role)
        if position is None or position >= len(row.cells):
            return ""
        return row.cells[position]

    def text(self, row: RawRow, role: str) -> str:
        position = self.index.get(role)
        if position is None or position >= len(row.texts):
            return ""
        return row.texts[position]

    def names_someone(self, row: RawRow) -> bool:
        key = _person(self.text(row, "employee_id"))
        return bool(key or _person(self.text(row, "employee_name")))


def parse_statement(
    data: bytes,
    *,
    settings: ImportSettings | None = None,
    file_label: str = "The file",
    max_bytes: int | None = None,
) -> ParsedFile:
    """Parse a card statement or receipts report. Raises InvalidFile with EVERY problem;
    a file with any error gives nothing back (SPEC §4: rejected whole)."""
    settings = settings or ImportSettings()
    _check_size(data, max_bytes, file_label)
    table = read_table(
        data,
        delimiter=settings.delimiter,
        encoding=settings.encoding,
        overrides=settings.columns,
        file_label=file_label,
    )
    header_at, layout = _locate_header(table.rows, settings, file_label)
    body = table.rows[header_at + 1 :]
    separator = settings.decimal_separator or _detect_separator(body, layout)
    reader = _RowReader(layout, separator, _date_pattern(body, layout, settings), settings)
    for row in body:
        reader.read(row)
    if reader.errors:
        raise InvalidFile(reader.errors, file_label=file_label)
    return reader.result(table, header_line=table.rows[header_at].line_number)


def _check_size(data: bytes, max_bytes: int | None, file_label: str) -> None:
    if max_bytes is not None and len(data) > max_bytes:
        raise file_error(
            f"{file_label} is {_megabytes(len(data))} MB; the limit is {_megabytes(max_bytes)} MB.",
            file_label=file_label,
        )


def _megabytes(size: int) -> str:
    value = (Decimal(size) / BYTES_PER_MB).quantize(Decimal("0.01"))
    if value == 0:
        value = (Decimal(size) / BYTES_PER_MB).quantize(Decimal("0.000001"))
    return format(value.normalize(), "f")


def _locate_header(
    rows: list[RawRow], settings: ImportSettings, file_label: str
) -> tuple[int, _Layout]:
    """The header row: right after `skip_lines`, or else the first of the first rows that
    holds every required column (so title lines above the header are passed over)."""
    candidates = _header_candidates(rows, settings.skip_lines)
    if not candidates:
        raise file_error(f"{file_label} has no header row.", file_label=file_label)
    best, best_found = candidates[0], -1
    for position in candidates:
        headers = rows[position].texts
        found = match_columns(headers, settings.columns)
        if not missing_roles(found, settings.columns):
            return position, _Layout(found, {role: headers[i] for role, i in found.items()})
        if len(found) > best_found:
            best, best_found = position, len(found)
    headers = rows[best].texts
    missing = missing_roles(match_columns(headers, settings.columns), settings.columns)
    raise ColumnsNotFound(
        [header for header in headers if header],
        missing,
        overrides=settings.columns,
        file_label=file_label,
    )


def _header_candidates(rows: list[RawRow], skip_lines: int | None) -> list[int]:
    filled = [i for i, row in enumerate(rows) if not row.is_blank()]
    if skip_lines is None:
        return filled[:SAMPLE_RECORDS]
    return [i for i in filled if rows[i].line_number > skip_lines][:1]


def _detect_separator(body: list[RawRow], layout: _Layout) -> str:
    """The point if every amount cell (lines and totals) reads with it, else the comma if
    every one does, else the point, so errors are reported the way most files are written."""
    texts = {
        layout.text(row, "amount")
        for row in body
        if isinstance(layout.cell(row, "amount"), str) and layout.text(row, "amount")
    }
    for separator in (".", ","):
        if all(_reads_as_amount(text, separator) for text in texts):
            return separator
    return "."


def _reads_as_amount(text: str, separator: str) -> bool:
    try:
        parse_amount(text, decimal_separator=separator)
    except AmountFormatError:
        return False
    return True


def _date_pattern(body: list[RawRow], layout: _Layout, settings: ImportSettings) -> str | None:
    """One format for the whole date column: the profile's, else the first default
    format that reads every text date of the rows naming an employee."""
    if "date" not in layout.index:
        return None
    if settings.date_format:
        return to_strptime(settings.date_format)
    texts = (
        layout.text(row, "date")
        for row in body
        if isinstance(layout.cell(row, "date"), str) and layout.names_someone(row)
    )
    return detect_date_format(texts)


def _person(text: str) -> str:
    """The text of a key or name cell, or "" when it is only a label like "Total"."""
    return "" if _TOTAL_LABEL.fullmatch(text.lower()) else text


def _says_total(text: str) -> bool:
    return bool(_TOTAL_WORD.search(_SUBTOTAL.sub(" ", text.lower())))


class _RowReader:
    """Reads the data rows in order, keeping running sums for subtotals and control
    totals, and collecting every error instead of stopping at the first."""

    def __init__(
        self,
        layout: _Layout,
        separator: str,
        date_pattern: str | None,
        settings: ImportSettings,
    ) -> None:
        self.layout = layout
        self.separator = separator
        self.date_pattern = date_pattern
        self.charges_negative = settings.charges_negative
        self.errors: list[RowError] = []
        self.lines: list[ParsedLine] = []
        self.blank_rows = 0
        self.subtotals: list[SubtotalRow] = []
        self.control_totals: list[ControlTotal] = []
        self._sum_above = ZERO
        self._lines_above = 0
        self._block_sum = ZERO
        # Once a line's amount is unreadable, the sums are wrong and a control-total
        # mismatch would only repeat that error.
        self._sums_reliable = True
        self._dates: dict[str, datetime.date | None] = {}

    def result(self, table: RawTable, *, header_line: int) -> ParsedFile:
        return ParsedFile(
            lines=self.lines,
            file_format=table.file_format,
            encoding=table.encoding,
            delimiter=table.delimiter,
            decimal_separator=self.separator,
            header_line=header_line,
            columns=dict(self.layout.headers),
            blank_rows=self.blank_rows,
            subtotals=self.subtotals,
            control_totals=self.control_totals,
        )

    def read(self, row: RawRow) -> None:
        if row.is_blank():
            self.blank_rows += 1
            return
        key = _person(self.layout.text(row, "employee_id"))
        name = _person(self.layout.text(row, "employee_name"))
        if key:
            self._read_line(row, key, name)
        elif name:
            self._read_nameless_key(row)
        else:
            self._read_total(row)

    def _read_line(self, row: RawRow, key: str, name: str) -> None:
        errors_before = len(self.errors)
        amount = self._amount(row, missing="amount is missing")
        when = self._date(row)
        if amount is None:
            self._sums_reliable = False
            return
        self._sum_above += amount
        self._block_sum += amount
        self._lines_above += 1
        if len(self.errors) == errors_before:
            line = ParsedLine(
                line_number=row.line_number,
                employee_id=key,
                employee_name=name,
                amount=amount,
                date=when,
                merchant=self.layout.text(row, "merchant"),
                receipt_id=self.layout.text(row, "receipt_id"),
            )
            self.lines.append(line)

    def _read_nameless_key(self, row: RawRow) -> None:
        self._error(row, "employee_id", "employee id is missing")
        self._amount(row, missing="amount is missing")
        self._date(row)
        self._sums_reliable = False  # the file meant this row as a line

    def _read_total(self, row: RawRow) -> None:
        """A row naming nobody: a control total if it says "total", else a subtotal."""
        is_total = any(
            _says_total(cell)
            for position, cell in enumerate(row.cells)
            if isinstance(cell, str) and position != self.layout.index["amount"]
        )
        if not self.layout.text(row, "amount"):
            if is_total:
                self._error(row, "amount", "control total has no amount")
            else:
                self.blank_rows += 1  # a note such as "End of report": no money, no line
            return
        amount = self._amount(row, missing="amount is missing")
        if amount is None:
            return
        if is_total:
            self._control_total(row, amount)
        else:
            self._subtotal(row, amount)

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

    def _subtotal(self, row: RawRow, amount: Decimal) -> None:
        block = self._block_sum
        self.subtotals.append(SubtotalRow(row.line_number, amount, block, amount == block))
        self._block_sum = ZERO

    def _amount(self, row: RawRow, *, missing: str) -> Decimal | None:
        cell = self.layout.cell(row, "amount")
        text = self.layout.text(row, "amount")
        if not text:
            self._error(row, "amount", missing)
            return None
        try:
            if isinstance(cell, Decimal):
                value = amount_from_number(cell)
            else:
                value = parse_amount(text, decimal_separator=self.separator)
        except AmountFormatError as error:
            self._error(row, "amount", str(error))
            return None
        # ZERO - value rather than -value: a flipped 0.00 must not become -0.00.
        return ZERO - value if self.charges_negative else value

    def _date(self, row: RawRow) -> datetime.date | None:
        if "date" not in self.layout.index:
            return None
        cell = self.layout.cell(row, "date")
        if isinstance(cell, datetime.date):
            return cell
        text = self.layout.text(row, "date")
        if not text:
            return None
        pattern = self.date_pattern
        if text not in self._dates:
            self._dates[text] = parse_date(text, pattern) if pattern else None
        parsed = self._dates[text]
        if parsed is None:
            expected = f" (expected a date like {example_date(pattern)})" if pattern else ""
            self._error(row, "date", f"not a valid date{expected}")
        return parsed

    def _error(self, row: RawRow, role: str, message: str) -> None:
        column = self.layout.headers.get(role)
        value = self.layout.text(row, role)
        self.errors.append(RowError(row.line_number, column, value, message))
