"""Bytes to a ParsedFile: header, columns, lines, summary rows, control totals, every error
(SPEC §4). The rows themselves are read by `rows.RowReader`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain, islice

from core.errors import InvalidFile, RowError, quote_value

from .columns import ColumnsNotFound, Overrides, match_columns, missing_roles
from .dates import detect_date_format, example_date, to_strptime
from .keyless import evidence_columns
from .layout import Layout
from .profile import ImportSettings
from .reader import SAMPLE_RECORDS, RawRow, RawTable, Record, file_error, read_table
from .results import ParsedFile
from .rows import RowReader, is_date_pending, reads_as_amount
from .suggest import suggest_profile
from .tail_shapes import CutCell, cut_last_cell
from .xlsx import read_workbook

BYTES_PER_MB = 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"
# The decimal separator and the date format are guessed from this many data rows; then
# every row is read with the guess while the whole file is checked against it. A guess the
# rest of the file proves wrong costs a second reading, never a different result.
GUESS_ROWS = 2000
# More failing dates than this in one column are one error about the column's format.
MAX_DATE_ERRORS = 3
_LISTED_DATE_FAILURES = 5


def parse_statement(
    data: bytes,
    *,
    settings: ImportSettings | None = None,
    file_label: str = "The file",
    max_bytes: int | None = None,
    currency: str | None = None,
) -> ParsedFile:
    """Parse a card statement or receipts report. Raises InvalidFile with EVERY problem;
    a file with any error gives nothing back (SPEC §4: rejected whole). With `currency`,
    a profile's currency column must hold it on every line."""
    settings = settings or ImportSettings()
    _check_size(data, max_bytes, file_label)
    table = _table(data, settings, file_label)
    records = table.records()
    header_at, header_line, layout = _locate_header(records, settings, file_label, table)
    guess = list(islice(records, GUESS_ROWS))
    reader = _guessing_reader(guess, layout, settings, currency)
    reader.read_all(chain(guess, records), cells_are_text=table.cells_are_text)
    del guess
    separator, date_pattern = reader.decided()
    if (separator, date_pattern) != (reader.separator, reader.date_pattern):
        reader = RowReader(layout, separator, date_pattern, settings, currency=currency)
        body = islice(table.records(), header_at + 1, None)
        reader.read_all(body, cells_are_text=table.cells_are_text)
    row_errors = _row_errors(reader, layout, settings)
    data_rows = _Body(table, header_at, layout, reader.separator)
    errors = _truncation_errors(data_rows, file_label, row_errors) + row_errors
    if errors:
        raise InvalidFile(errors, file_label=file_label)
    reader.note_warning()
    return ParsedFile(
        lines=reader.lines,
        file_format=table.file_format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        decimal_separator=reader.separator,
        header_line=header_line,
        columns=dict(layout.headers),
        blank_rows=reader.blank_rows,
        subtotals=reader.subtotals,
        control_totals=reader.control_totals,
        warnings=reader.warnings,
        unassigned_lines=reader.unassigned_lines,
    )


def _table(data: bytes, settings: ImportSettings, file_label: str) -> RawTable:
    return file_table(
        data,
        delimiter=settings.delimiter,
        encoding=settings.encoding,
        overrides=settings.columns,
        file_label=file_label,
    )


def file_table(
    data: bytes,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    overrides: Overrides | None = None,
    file_label: str,
) -> RawTable:
    """A CSV or XLSX file's records, the format told by the content (any upload of §4)."""
    if data.startswith(ZIP_MAGIC):
        return read_workbook(data, file_label)
    return read_table(
        data,
        delimiter=delimiter,
        encoding=encoding,
        overrides=overrides or {},
        file_label=file_label,
    )


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
    records: Iterator[Record], settings: ImportSettings, file_label: str, table: RawTable
) -> tuple[int, int, Layout]:
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
            evidence = evidence_columns(row.texts, found)
            return position, line_number, Layout(found, headers, row.texts, evidence)
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
        suggestion=suggest_profile(table),
    )


def _guessing_reader(
    guess: list[Record], layout: Layout, settings: ImportSettings, currency: str | None
) -> RowReader:
    """A reader using what the first rows suggest, checking the whole file against it."""
    rows = [RawRow(line_number, tuple(cells)) for line_number, cells in guess]
    return RowReader(
        layout,
        settings.decimal_separator or _detect_separator(rows, layout),
        _date_pattern(rows, layout, settings),
        settings,
        currency=currency,
        choose_separator=settings.decimal_separator is None,
        choose_date_format="date" in layout.index and not settings.date_format,
    )


def _detect_separator(body: list[RawRow], layout: Layout) -> str:
    """The point if every amount cell (lines and totals) reads with it, else the comma if
    every one does, else the point, so errors are reported the way most files are written."""
    texts = {
        layout.text(row, "amount")
        for row in body
        if isinstance(layout.cell(row, "amount"), str) and layout.text(row, "amount")
    }
    for separator in (".", ","):
        if all(reads_as_amount(text, separator) for text in texts):
            return separator
    return "."


def _date_pattern(body: list[RawRow], layout: Layout, settings: ImportSettings) -> str | None:
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


@dataclass(frozen=True)
class _Body:
    """The data records after the header, as a second reading can give them again."""

    table: RawTable
    header_at: int
    layout: Layout
    separator: str

    def cut_last_cell(self) -> CutCell | None:
        return cut_last_cell(
            islice(self.table.records(), self.header_at + 1, None),
            self.table.tail.line,
            self.layout.all_headers,
            self.layout.index.get("amount"),
            self.separator,
        )


def _truncation_errors(body: _Body, file_label: str, row_errors: list[RowError]) -> list[RowError]:
    """A last record cut short by the end of the file: the file looks truncated. So does
    one that does not end with a line break and does not read (a value cut in two), or
    whose last cell looks cut from a longer value (`tail_shapes`)."""
    table, layout = body.table, body.layout
    tail = table.tail
    if tail.open_quote:
        message = (
            f"{file_label} looks truncated: it ends inside a quoted cell that starts on line "
            f"{tail.line} (expected a closing quote and a line break)."
        )
        return [RowError(tail.line, None, None, message)]
    width = layout.width
    if tail.ends_with_line_break or not tail.line:
        return []
    if tail.width >= width:
        if not any(error.line == tail.line for error in row_errors):
            cut = body.cut_last_cell()
            if cut is None:
                return []
            message = (
                f"{file_label} looks truncated: its last line ({tail.line}) does not end with a "
                f"line break and its {cut.column} cell {quote_value(cut.text, 30)} looks cut "
                f"short (expected {cut.expected}, and a line break)."
            )
            return [RowError(tail.line, cut.column, cut.text, message)]
        message = (
            f"{file_label} looks truncated: its last line ({tail.line}) does not end with a "
            "line break and cannot be read (expected a complete line and a line break)."
        )
        return [RowError(tail.line, None, None, message)]
    message = (
        f"{file_label} looks truncated: its last line ({tail.line}) stops without a line "
        f"break after {tail.width} of the {width} cells the header has (expected "
        f"{width} cells and a line break)."
    )
    return [RowError(tail.line, None, None, message)]


def _row_errors(reader: RowReader, layout: Layout, settings: ImportSettings) -> list[RowError]:
    """The reader's errors, the failing dates as row errors when they are few, else as ONE
    error naming the formats tried."""
    errors = [error for error in reader.errors if not is_date_pending(error)]
    failures = reader.date_failures
    column = layout.headers.get("date")
    if len(failures) <= MAX_DATE_ERRORS:
        pattern = reader.date_pattern
        expected = f" (expected a date like {example_date(pattern)})" if pattern else ""
        errors += [
            RowError(line, column, text, f"not a valid date{expected}") for line, text in failures
        ]
        return sorted(errors, key=lambda error: error.line or 0)
    listed = ", ".join(
        f"line {line} ({quote_value(text, 30)})" for line, text in failures[:_LISTED_DATE_FAILURES]
    )
    if settings.date_format:
        tried = f"the import profile's date_format {settings.date_format!r}"
    else:
        tried = (
            "any format tried (ISO 2026-10-31; day-first and month-first with / - or ., "
            "e.g. 31/10/2026, 10/31/2026, 31.10.26, 10-31-2026; 31-Oct-2026; Oct 31, 2026)"
        )
    message = (
        f"{len(failures):,} dates of the column do not read with {tried}. Set date_format "
        f"in the import profile (e.g. mm-dd-yyyy). First lines that fail: {listed}."
    )
    first = failures[0]
    return sorted(
        [RowError(first[0], column, first[1], message), *errors], key=lambda e: e.line or 0
    )


def suggest_profile_for(
    data: bytes, *, settings: ImportSettings | None = None, file_label: str = "The file"
) -> dict[str, object]:
    """The profile proposed from a file's content ({} when nothing fits)."""
    return suggest_profile(_table(data, settings or ImportSettings(), file_label))
