"""Data rows to lines: the usual row on a quick path, every other row by the rules of
SPEC §4 (keyless rows, summary rows, control totals), every error collected."""

from __future__ import annotations

import datetime
import gc
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import TypeVar, cast

from core.errors import RowError

from .amounts import (
    ZERO,
    AmountFormatError,
    amount_from_number,
    parse_amount,
    parse_plain_amount,
)
from .dates import DateFormatChooser, parse_date
from .keyless import LABEL_INITIALS, TOTAL_LABEL, person
from .layout import Layout
from .limits import FIELD_LENGTHS
from .profile import ImportSettings
from .reader import RawRow, Record, TextRecord
from .results import ControlTotal, ParsedLine, SubtotalRow, make_line
from .summary_rows import SummaryRowRules

# An amount text without a point, a comma or a space reads alike with either separator.
_SEPARATOR_FREE = re.compile(r"[^.,\s]*")
OTHER_SEPARATOR = {".": ",", ",": "."}
# Merchants repeat; lines share one string per merchant, up to this many merchants.
_SHARED_MERCHANTS = 10_000
# Lines read by `read` share their repeated values, up to this many distinct ones.
_SHARED_VALUES = 200_000
_Shared = TypeVar("_Shared")
_ABSENT = 1 << 62  # the position of a role the file lacks: beyond every row
_MAX_ID, _MAX_NAME, _MAX_MERCHANT, _MAX_RECEIPT = (
    FIELD_LENGTHS[role] for role in ("employee_id", "employee_name", "merchant", "receipt_id")
)


@contextmanager
def collector_paused() -> Iterator[None]:
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


def reads_as_amount(text: str, separator: str) -> bool:
    try:
        parse_amount(text, decimal_separator=separator)
    except AmountFormatError:
        return False
    return True


class RowReader(SummaryRowRules):
    """Reads the data rows in order, keeping running sums for summary rows and control
    totals, and collecting every error instead of stopping at the first.

    With `choose_separator` / `choose_date_format` it also works out, from every row,
    the decimal separator and date format the whole file calls for (`decided()`)."""

    def __init__(
        self,
        layout: Layout,
        separator: str,
        date_pattern: str | None,
        settings: ImportSettings,
        *,
        currency: str | None = None,
        choose_separator: bool = False,
        choose_date_format: bool = False,
    ) -> None:
        self.layout = layout
        self.separator = separator
        self.date_pattern = date_pattern
        self.charges_negative = settings.charges_negative
        self.unassigned_employee_id = settings.unassigned_employee_id
        self.currency = currency if "currency" in layout.index else None
        self.errors: list[RowError] = []
        self.date_failures: list[tuple[int, str]] = []
        self.lines: list[ParsedLine] = []
        self.blank_rows = 0
        self.note_rows: list[int] = []
        self.unassigned_lines = 0
        self.warnings: list[str] = []
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
        self._shared: dict[object, object] = {}
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

    def read_all(self, records: Iterable[Record], *, cells_are_text: bool) -> None:
        with collector_paused():
            if cells_are_text and self.currency is None:
                self._read_text_records(cast("Iterable[TextRecord]", records))
            else:
                for line_number, cells in records:
                    self.read(RawRow(line_number, tuple(cells)))

    def _read_text_records(self, records: Iterable[TextRecord]) -> None:
        """Rows of str cells. The usual row (a key, an amount, a date already read well,
        fields within their lengths, no error) becomes a line right here; any other row
        is read by `read`."""
        index = self.layout.index
        key_at, amount_at = index["employee_id"], index["amount"]
        name_at, date_at, merchant_at, receipt_at = (
            index.get(role, _ABSENT) for role in ("employee_name", "date", "merchant", "receipt_id")
        )
        separator, negative = self.separator, self.charges_negative
        fits = self._separator_fits
        other = OTHER_SEPARATOR[separator]
        dates, merchants = self._dates, {"": ""}
        add_line = self.lines.append
        previous_key = previous_name = ""
        for line_number, cells in records:
            size = len(cells)
            key = cells[key_at].strip() if key_at < size else ""
            if (
                not key
                or len(key) > _MAX_ID
                or (key[0] in LABEL_INITIALS and TOTAL_LABEL.fullmatch(key.lower()))
            ):
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
            name = cells[name_at].strip() if name_at < size else ""
            merchant = cells[merchant_at].strip() if merchant_at < size else ""
            receipt = cells[receipt_at].strip() if receipt_at < size else ""
            if (
                len(name) > _MAX_NAME
                or len(merchant) > _MAX_MERCHANT
                or len(receipt) > _MAX_RECEIPT
            ):
                self.read(RawRow(line_number, tuple(cells)))
                continue
            if negative:
                amount = ZERO - amount  # ZERO - value: a flipped 0.00 must not become -0.00
            if name and name[0] in LABEL_INITIALS and TOTAL_LABEL.fullmatch(name.lower()):
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
            if len(merchants) < _SHARED_MERCHANTS:
                merchant = merchants.setdefault(merchant, merchant)
            else:
                merchant = merchants.get(merchant, merchant)
            self._sum_above += amount
            self._block_sum += amount
            self._lines_above += 1
            add_line(make_line(line_number, key, name, amount, when, merchant, receipt))

    def _usual_amount(self, text: str) -> Decimal | None:
        """A text amount that is not plain ("$1,234.56", "(12.00)"), or None when it is
        missing or wrong (`read` then reports it)."""
        if not text:
            return None
        fits = self._separator_fits
        try:
            if fits is not None and fits[OTHER_SEPARATOR[self.separator]]:
                return self._text_amount(text, counts=True)
            # Nothing left to note: a text failing the separator is noted by `read`.
            return parse_amount(text, decimal_separator=self.separator)
        except AmountFormatError:
            return None

    def read(self, row: RawRow) -> None:
        if row.is_blank():
            self.blank_rows += 1
            return
        key = person(self.layout.text(row, "employee_id"))
        name = person(self.layout.text(row, "employee_name"))
        if key:
            self._read_line(row, key, name)
        elif name:
            self._read_nameless_key(row)
        else:
            self.read_keyless(row)

    def _read_line(self, row: RawRow, key: str, name: str, *, unassigned: bool = False) -> None:
        errors_before = len(self.errors)
        amount = self._amount(row, missing="amount is missing")
        when = self._date(row)
        self._check_lengths(row, key=key, name=name)
        self._check_currency(row)
        if amount is None:
            self._sums_reliable = False
            return
        self._sum_above += amount
        self._block_sum += amount
        self._lines_above += 1
        if len(self.errors) == errors_before:
            self.unassigned_lines += unassigned
            share = self._share
            line = make_line(
                row.line_number,
                share(key),
                share(name),
                share(amount),
                share(when),
                share(self.layout.text(row, "merchant")),
                self.layout.text(row, "receipt_id"),
            )
            self.lines.append(line)

    def _share(self, value: _Shared) -> _Shared:
        """One object per distinct key, name, merchant, amount and date (up to a bound):
        a workbook's rows arrive as new objects each, and two million lines of them
        would not fit in an upload's memory."""
        shared = self._shared
        if len(shared) < _SHARED_VALUES:
            return cast("_Shared", shared.setdefault(value, value))
        return cast("_Shared", shared.get(value, value))

    def _check_lengths(self, row: RawRow, *, key: str, name: str) -> None:
        texts = {
            "employee_id": key,
            "employee_name": name,
            "merchant": self.layout.text(row, "merchant"),
            "receipt_id": self.layout.text(row, "receipt_id"),
        }
        for role, text in texts.items():
            limit = FIELD_LENGTHS[role]
            if len(text) > limit:
                self._error(
                    row, role, f"{len(text):,} characters; the limit is {limit}", value=text
                )

    def _check_currency(self, row: RawRow) -> None:
        if self.currency is None:
            return
        found = self.layout.text(row, "currency").upper()
        if found != self.currency:
            reason = f"currency {found}" if found else "no currency"
            self._error(
                row,
                "currency",
                f"{reason}; every line must be in the engagement's currency, {self.currency}",
            )

    def _read_nameless_key(self, row: RawRow) -> None:
        self._error(row, "employee_id", "employee id is missing")
        self._amount(row, missing="amount is missing")
        self._date(row)
        self._sums_reliable = False  # the file meant this row as a line

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
        other = OTHER_SEPARATOR[self.separator]
        if fits[other]:
            separator_free = _SEPARATOR_FREE.fullmatch(text) is not None
            fits[other] = reads if separator_free else reads_as_amount(text, other)

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
            # Collected, not reported yet: a column no format fits is ONE error.
            self.date_failures.append((row.line_number, text))
            self.errors.append(_DATE_PENDING)
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

    def _error(self, row: RawRow, role: str, message: str, *, value: str | None = None) -> None:
        column = self.layout.headers.get(role)
        if value is None:
            value = self.layout.text(row, role)
        self.errors.append(RowError(row.line_number, column, value, message))


# Stands in the error list for a date error until the column is judged as a whole.
_DATE_PENDING = RowError(None, None, None, "date")


def is_date_pending(error: RowError) -> bool:
    return error is _DATE_PENDING
