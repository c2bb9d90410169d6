"""Rows to a ParsedFile: header, columns, lines, subtotals, control totals, every error."""

from __future__ import annotations

import datetime
import gc
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from decimal import Decimal
from itertools import chain, islice
from typing import cast

from sessions_app.errors import InvalidFile, RowError

from .amounts import (
    ZERO,
    AmountFormatError,
    amount_from_number,
    format_amount,
    parse_amount,
    parse_plain_amount,
)
from .columns import ColumnsNotFound, match_columns, missing_roles
from .dates import DateFormatChooser, detect_date_format, example_date, parse_date, to_strptime
from .profile import ImportSettings
from .reader import (
    SAMPLE_RECORDS,
    Cell,
    RawRow,
    RawTable,
    Record,
    TextRecord,
    file_error,
    read_table,
)

BYTES_PER_MB = 1024 * 1024
# The decimal separator and the date format are guessed from this many data rows; then
# every row is read with the guess while the whole file is checked against it. A guess the
# rest of the file proves wrong costs a second reading, never a different result.
GUESS_ROWS = 2000
# "Subtotal", "Sub-total", "SUB TOTAL" are block sums, not the file's control total.
_SUBTOTAL = re.compile(r"sub[\s\-_]*total")
_TOTAL_WORD = re.compile(r"\btotals?\b")
# A key or name cell holding only such a label names no employee.
_TOTAL_LABEL = re.compile(r"(grand\s*)?(sub[\s\-_]*)?totals?\s*:?")
# Only a text starting with one of these can be such a label (no other character
# lowercases to g, s or t), so most keys need no regular expression at all.
_LABEL_INITIALS = frozenset("gGsStT")
# An amount text without a point, a comma or a space reads alike with either separator.
_SEPARATOR_FREE = re.compile(r"[^.,\s]*")
_OTHER_SEPARATOR = {".": ",", ",": "."}
# Merchants repeat; lines share one string per merchant, up to this many merchants.
_SHARED_MERCHANTS = 10_000
_ABSENT = sys.maxsize  # the position of a role the file lacks: beyond every row


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
        getattr(ParsedLine, field.name).__set__ for field in fields(ParsedLine)
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


_make_line = _line_maker()


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
    records = table.records()
    header_at, header_line, layout = _locate_header(records, settings, file_label)
    guess = list(islice(records, GUESS_ROWS))
    reader = _guessing_reader(guess, layout, settings)
    reader.read_all(chain(guess, records), cells_are_text=table.cells_are_text)
    del guess
    separator, date_pattern = reader.decided()
    if (separator, date_pattern) != (reader.separator, reader.date_pattern):
        reader = _RowReader(layout, separator, date_pattern, settings)
        body = islice(table.records(), header_at + 1, None)
        reader.read_all(body, cells_are_text=table.cells_are_text)
    if reader.errors:
        raise InvalidFile(reader.errors, file_label=file_label)
    return reader.result(table, header_line=header_line)


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
    records: Iterator[Record], settings: ImportSettings, file_label: str
) -> tuple[int, int, _Layout]:
    """The header row's position among the records, its line and the layout it gives: the
    first filled row after `skip_lines`, or else the first of the first filled rows that
    holds every required column (so title lines above the header are passed over).
    `records` is left at the first row after the header."""
    best: RawRow | None = None
    best_found = -1
    candidates = 0
    for position, (line_number, cells) in enumerate(records):
        row = RawRow(line_number, tuple(cells))
        if row.is_blank() or (
            settings.skip_lines is not None and line_number <= settings.skip_lines
        ):
            continue
        found = match_columns(row.texts, settings.columns)
        if not missing_roles(found, settings.columns):
            headers = {role: row.texts[i] for role, i in found.items()}
            return position, line_number, _Layout(found, headers)
        if len(found) > best_found:
            best, best_found = row, len(found)
        candidates += 1
        if settings.skip_lines is not None or candidates >= SAMPLE_RECORDS:
            break
    for _ in records:
        pass  # a file that cannot be read as CSV further down says so first
    if best is None:
        raise file_error(f"{file_label} has no header row.", file_label=file_label)
    missing = missing_roles(match_columns(best.texts, settings.columns), settings.columns)
    raise ColumnsNotFound(
        [header for header in best.texts if header],
        missing,
        overrides=settings.columns,
        file_label=file_label,
    )


def _guessing_reader(guess: list[Record], layout: _Layout, settings: ImportSettings) -> _RowReader:
    """A reader using what the first rows suggest, checking the whole file against it."""
    rows = [RawRow(line_number, tuple(cells)) for line_number, cells in guess]
    return _RowReader(
        layout,
        settings.decimal_separator or _detect_separator(rows, layout),
        _date_pattern(rows, layout, settings),
        settings,
        choose_separator=settings.decimal_separator is None,
        choose_date_format="date" in layout.index and not settings.date_format,
    )


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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Every line read is an object that outlives every garbage collection, so the cyclic
    collector would walk the lines read so far again and again (a quarter of the time of a
    big file), though they can form no cycle: it waits until the rows are read."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _person(text: str) -> str:
    """The text of a key or name cell, or "" when it is only a label like "Total"."""
    return "" if _TOTAL_LABEL.fullmatch(text.lower()) else text


def _says_total(text: str) -> bool:
    return bool(_TOTAL_WORD.search(_SUBTOTAL.sub(" ", text.lower())))


class _RowReader:
    """Reads the data rows in order, keeping running sums for subtotals and control
    totals, and collecting every error instead of stopping at the first.

    With `choose_separator` / `choose_date_format` it also works out, from every row,
    the decimal separator and date format the whole file calls for (`decided()`), exactly
    as `_detect_separator` and `_date_pattern` would over all the rows."""

    def __init__(
        self,
        layout: _Layout,
        separator: str,
        date_pattern: str | None,
        settings: ImportSettings,
        *,
        choose_separator: bool = False,
        choose_date_format: bool = False,
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
        # Text dates (each read once) and dates of spreadsheet number cells.
        self._dates: dict[str, datetime.date | None] = {}
        self._number_dates: dict[str, datetime.date | None] = {}
        # Whether every text amount so far reads with "." and with ",".
        self._separator_fits = {".": True, ",": True} if choose_separator else None
        self._date_formats = DateFormatChooser() if choose_date_format else None

    def decided(self) -> tuple[str, str | None]:
        """The separator and date format all the rows read call for."""
        separator, pattern = self.separator, self.date_pattern
        if self._separator_fits is not None:
            fits = self._separator_fits
            separator = "." if fits["."] else "," if fits[","] else "."
        if self._date_formats is not None:
            pattern = self._date_formats.result()
        return separator, pattern

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

    def read_all(self, records: Iterable[Record], *, cells_are_text: bool) -> None:
        with _collector_paused():
            if cells_are_text:
                self._read_text_records(cast("Iterable[TextRecord]", records))
            else:
                for line_number, cells in records:
                    self.read(RawRow(line_number, tuple(cells)))

    def _read_text_records(self, records: Iterable[TextRecord]) -> None:
        """Rows of str cells. The usual row (a key, an amount, a date already read well,
        no error) becomes a line right here; any other row is read by `read`."""
        index = self.layout.index
        key_at, amount_at = index["employee_id"], index["amount"]
        name_at, date_at, merchant_at, receipt_at = (
            index.get(role, _ABSENT) for role in ("employee_name", "date", "merchant", "receipt_id")
        )
        separator, negative = self.separator, self.charges_negative
        fits = self._separator_fits
        other = _OTHER_SEPARATOR[separator]
        dates, merchants = self._dates, {"": ""}
        add_line = self.lines.append
        previous_key = previous_name = ""
        for line_number, cells in records:
            size = len(cells)
            key = cells[key_at].strip() if key_at < size else ""
            if not key or (key[0] in _LABEL_INITIALS and _TOTAL_LABEL.fullmatch(key.lower())):
                self.read(RawRow(line_number, tuple(cells)))
                continue
            when = None
            date_text = cells[date_at].strip() if date_at < size else ""
            # A date not read before, or not readable, takes `read` (which reads it once).
            if date_text and (when := dates.get(date_text)) is None:
                self.read(RawRow(line_number, tuple(cells)))
                continue
            text = cells[amount_at].strip() if amount_at < size else ""
            amount = parse_plain_amount(text, separator)
            if amount is None:
                amount = self._usual_amount(text)
                if amount is None:
                    self.read(RawRow(line_number, tuple(cells)))
                    continue
            elif fits is not None and fits[other] and separator in text:
                fits[other] = False  # a plain amount with a separator never reads with the other
            if negative:
                amount = ZERO - amount  # ZERO - value: a flipped 0.00 must not become -0.00
            name = cells[name_at].strip() if name_at < size else ""
            if name and name[0] in _LABEL_INITIALS and _TOTAL_LABEL.fullmatch(name.lower()):
                name = ""
            # A statement lists each employee's lines together: they share one string.
            if key == previous_key:
                key = previous_key
            else:
                previous_key = key
            if name == previous_name:
                name = previous_name
            else:
                previous_name = name
            merchant = cells[merchant_at].strip() if merchant_at < size else ""
            if len(merchants) < _SHARED_MERCHANTS:
                merchant = merchants.setdefault(merchant, merchant)
            else:
                merchant = merchants.get(merchant, merchant)
            self._sum_above += amount
            self._block_sum += amount
            self._lines_above += 1
            add_line(
                _make_line(
                    line_number,
                    key,
                    name,
                    amount,
                    when,
                    merchant,
                    cells[receipt_at].strip() if receipt_at < size else "",
                )
            )

    def _usual_amount(self, text: str) -> Decimal | None:
        """A text amount that is not plain ("$1,234.56", "(12.00)"), or None when it is
        missing or wrong (`read` then reports it)."""
        if not text:
            return None
        fits = self._separator_fits
        try:
            if fits is not None and fits[_OTHER_SEPARATOR[self.separator]]:
                return self._text_amount(text, counts=True)
            # Nothing left to note: a text failing the separator is noted by `read`.
            return parse_amount(text, decimal_separator=self.separator)
        except AmountFormatError:
            return None

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
                value = self._text_amount(text, counts=isinstance(cell, str))
        except AmountFormatError as error:
            self._error(row, "amount", str(error))
            return None
        # ZERO - value rather than -value: a flipped 0.00 must not become -0.00.
        return ZERO - value if self.charges_negative else value

    def _text_amount(self, text: str, *, counts: bool) -> Decimal:
        """The amount in `text`; when it `counts` towards choosing the separator, whether
        it reads with each separator is noted."""
        try:
            value = parse_amount(text, decimal_separator=self.separator)
        except AmountFormatError:
            if counts:
                self._note_amount_text(text, reads=False)
            raise
        if counts:
            self._note_amount_text(text, reads=True)
        return value

    def _note_amount_text(self, text: str, *, reads: bool) -> None:
        fits = self._separator_fits
        if fits is None:
            return
        fits[self.separator] = fits[self.separator] and reads
        other = _OTHER_SEPARATOR[self.separator]
        if fits[other]:
            separator_free = _SEPARATOR_FREE.fullmatch(text) is not None
            fits[other] = reads if separator_free else _reads_as_amount(text, other)

    def _date(self, row: RawRow) -> datetime.date | None:
        if "date" not in self.layout.index:
            return None
        cell = self.layout.cell(row, "date")
        if isinstance(cell, datetime.date):
            return cell
        text = self.layout.text(row, "date")
        if not text:
            return None
        parsed = self._text_date(text, counts=isinstance(cell, str))
        if parsed is None:
            pattern = self.date_pattern
            expected = f" (expected a date like {example_date(pattern)})" if pattern else ""
            self._error(row, "date", f"not a valid date{expected}")
        return parsed

    def _text_date(self, text: str, *, counts: bool) -> datetime.date | None:
        """The date in `text`, each distinct text read once; a text cell `counts` towards
        choosing the date format."""
        known = self._dates if counts else self._number_dates
        if text in known:
            return known[text]
        pattern = self.date_pattern
        parsed = known[text] = parse_date(text, pattern) if pattern else None
        if counts and self._date_formats is not None:
            self._date_formats.add(text, pattern, parsed)
        return parsed

    def _error(self, row: RawRow, role: str, message: str) -> None:
        column = self.layout.headers.get(role)
        value = self.layout.text(row, role)
        self.errors.append(RowError(row.line_number, column, value, message))
