"""Bytes to records of cells: spreadsheet or text, encoding, delimiter, physical line numbers.

A text file is never held as one string while it is parsed: its bytes are decoded once to
check the encoding, then read again record by record, as often as the parser asks."""

from __future__ import annotations

import codecs
import csv
import datetime
import io
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from core.errors import InvalidFile, RowError

from .columns import Overrides, match_columns
from .limits import MAX_CELL_CHARS, MAX_COLUMNS, MAX_LINES

Cell = str | Decimal | datetime.date
# One record of the file: the physical line (or spreadsheet row) it starts on, its cells.
# Text files give lists of str, spreadsheets tuples of cells.
Record = tuple[int, Sequence[Cell]]
TextRecord = tuple[int, Sequence[str]]

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and .doc) container
DELIMITER_CANDIDATES: tuple[str, ...] = (",", ";", "\t", "|")
SAMPLE_RECORDS = 30
BINARY_SAMPLE_CHARS = 8192
_TEXT_CONTROLS = frozenset("\t\n\r\f\v")
_LINE_SCAN_CHARS = 4 * 1024 * 1024


@dataclass(frozen=True)
class RawRow:
    """One record. `line_number` is the physical line it starts on (or spreadsheet row)."""

    line_number: int
    cells: tuple[Cell, ...]

    @cached_property
    def texts(self) -> tuple[str, ...]:
        """Each cell as stripped text; computed once, every rule reads it."""
        return tuple(cell_text(cell).strip() for cell in self.cells)

    def is_blank(self) -> bool:
        return not any(self.texts)


@dataclass
class RecordTail:
    """The last record a reading saw, and whether the file ends with a line break: a
    record cut short by the end of the file is how a truncated file shows."""

    ends_with_line_break: bool = True
    open_quote: bool = False
    line: int = 0
    width: int = 0


@dataclass(frozen=True)
class RawTable:
    """What the file is, and its records from the first one, read afresh on every call."""

    file_format: str
    encoding: str | None
    delimiter: str | None
    read_records: Callable[[], Iterator[Record]]
    tail: RecordTail = field(default_factory=RecordTail)

    @property
    def cells_are_text(self) -> bool:
        """Every cell is a str (a text file), so the parser's quick path applies."""
        return self.file_format == "csv"

    def records(self) -> Iterator[Record]:
        return self.read_records()


def cell_text(cell: Cell) -> str:
    """A cell as a person would read it (numbers without exponent, ids without ".0")."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, Decimal):
        if cell.is_finite() and cell == cell.to_integral_value():
            return format(cell.to_integral_value(), "f")
        return format(cell, "f")
    return cell.isoformat()


def file_error(message: str, *, file_label: str, line: int | None = None) -> InvalidFile:
    return InvalidFile([RowError(line, None, None, message)], file_label=file_label)


def read_table(
    data: bytes,
    *,
    delimiter: str | None,
    encoding: str | None,
    overrides: Overrides,
    file_label: str,
) -> RawTable:
    """The file's records. The format comes from the content, never the file name.
    Spreadsheets are read by the caller (`xlsx.read_workbook`)."""
    if data.startswith(OLE_MAGIC):
        raise file_error(
            f"{file_label} is an old-style Excel .xls file; save it as .xlsx or CSV.",
            file_label=file_label,
        )
    text = TextSource.check(data, encoding, file_label)
    used_delimiter = delimiter or detect_delimiter(text, overrides)
    tail = RecordTail(ends_with_line_break=text.ends_with_line_break)
    if not text.ends_with_line_break and text.quotes_odd:
        tail.open_quote = _ends_in_open_quote(text, used_delimiter)
    return RawTable(
        "csv",
        text.encoding,
        used_delimiter,
        lambda: text.records(used_delimiter, file_label=file_label, tail=tail),
        tail,
    )


def _ends_in_open_quote(text: TextSource, delimiter: str) -> bool:
    """Whether the file ends inside a quoted cell (a cut in the middle of a quote)."""
    reader = csv.reader(text.lines(), delimiter=delimiter, skipinitialspace=True, strict=True)
    try:
        for _ in reader:
            pass
    except csv.Error as error:
        return "unexpected end of data" in str(error)
    return False


@dataclass(frozen=True)
class TextSource:
    """A text file's bytes with the encoding that reads all of them, from `start` on
    (after a UTF-8 byte order mark)."""

    data: bytes
    start: int
    encoding: str
    ends_with_line_break: bool = True
    quotes_odd: bool = False
    has_long_lines: bool = False

    @classmethod
    def check(cls, data: bytes, encoding: str | None, file_label: str) -> TextSource:
        """The bytes decoded once, whole, to choose or check the encoding and refuse empty
        or binary files; the text itself is not kept."""
        start, used_encoding, text = decode_text(data, encoding, file_label)
        if not text or text.isspace():
            raise file_error(f"{file_label} is empty.", file_label=file_label)
        if looks_binary(text):
            raise file_error(
                f"{file_label} is not a CSV or XLSX file (it looks like binary data).",
                file_label=file_label,
            )
        nul = text.find("\x00")
        if nul >= 0:
            line = text.count("\n", 0, nul) + 1
            raise file_error(
                f"{file_label} holds a NUL byte on line {line}; a CSV file never does "
                "(is it damaged, or another kind of file?).",
                file_label=file_label,
                line=line,
            )
        return cls(
            data,
            start,
            used_encoding,
            ends_with_line_break=text.endswith(("\n", "\r")),
            quotes_odd=text.count('"') % 2 == 1,
            has_long_lines=_longest_line(text) > MAX_CELL_CHARS,
        )

    def lines(self) -> io.TextIOWrapper:
        # newline="" lets the csv module see CR, LF and CRLF itself, including inside
        # quotes; the text is decoded a chunk at a time as the lines are read.
        buffer = io.BytesIO(self.data)  # shares the bytes, no copy
        buffer.seek(self.start)
        return io.TextIOWrapper(buffer, encoding=self.encoding, newline="")

    def records(
        self,
        delimiter: str,
        *,
        file_label: str | None = None,
        tail: RecordTail | None = None,
    ) -> Iterator[TextRecord]:
        """Every record with the physical line it starts on (reader.line_num counts
        physical lines). A csv.Error, or a record past the limits, becomes a file error
        when `file_label` is given; `tail` learns the last record."""
        reader = csv.reader(self.lines(), delimiter=delimiter, skipinitialspace=True)
        start, last, record = 1, 0, []
        # Checked only where it can fail: a file with long lines, a record of several
        # lines (a quoted cell with line breaks), a wide record, the line limit.
        check_cells = self.has_long_lines
        try:
            for record in reader:
                end = reader.line_num
                if file_label is not None and (
                    end != start or check_cells or len(record) > MAX_COLUMNS or end > MAX_LINES
                ):
                    _check_record(record, start, file_label)
                yield start, record
                last, start = start, end + 1
        except csv.Error as error:
            if file_label is None:
                raise
            line = last + 1 if last else 1
            if "field larger than field limit" in str(error):
                raise _long_cell_error(csv.field_size_limit(), line, file_label) from error
            raise file_error(
                f"{file_label} could not be read as CSV near line {line}: {error} "
                "(is a quote left open?).",
                file_label=file_label,
                line=line,
            ) from error
        if tail is not None and last:
            tail.line, tail.width = last, len(record)


def _longest_line(text: str) -> int:
    """The length of the longest line, a few megabytes at a time (split and len run in C;
    a regular expression took ten times longer)."""
    longest, carry = 0, ""
    for start in range(0, len(text), _LINE_SCAN_CHARS):
        pieces = (carry + text[start : start + _LINE_SCAN_CHARS]).split("\n")
        carry = pieces.pop()
        longest = max(longest, max(map(len, pieces), default=0))
    return max(longest, len(carry))


def _check_record(record: list[str], line: int, file_label: str) -> None:
    if len(record) > MAX_COLUMNS or line > MAX_LINES:
        raise _limit_error(record, line, file_label)
    longest = max(map(len, record), default=0)
    if longest > MAX_CELL_CHARS:
        raise _long_cell_error(longest, line, file_label)


def _limit_error(record: list[str], line: int, file_label: str) -> InvalidFile:
    if len(record) > MAX_COLUMNS:
        message = (
            f"{file_label} has {len(record):,} columns on line {line}; the limit is {MAX_COLUMNS}."
        )
    else:
        message = f"{file_label} has more than {MAX_LINES:,} lines, the limit."
    return file_error(message, file_label=file_label, line=line)


def _long_cell_error(length: int, line: int, file_label: str) -> InvalidFile:
    return file_error(
        f"{file_label} has a cell of {length:,} characters or more on line {line}; "
        f"the limit is {MAX_CELL_CHARS:,}.",
        file_label=file_label,
        line=line,
    )


def decode_text(data: bytes, encoding: str | None, file_label: str) -> tuple[int, str, str]:
    """Where the text starts (after a UTF-8 byte order mark), the encoding that reads it
    (the profile's, else detected) and the text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export; its BOM is unmistakable.
        return 0, "utf-16", _decode(memoryview(data), "utf-16", file_label)
    start = 0
    if data.startswith(codecs.BOM_UTF8):
        start = len(codecs.BOM_UTF8)
        encoding = encoding or "utf-8"
    body = memoryview(data)[start:]
    if encoding:
        return start, encoding, _decode(body, encoding, file_label)
    for candidate in ("utf-8", "windows-1252"):
        try:
            return start, candidate, str(body, candidate)
        except UnicodeDecodeError:
            continue
    # Five bytes are undefined in Windows-1252; ISO-8859-1 reads every byte.
    return start, "iso-8859-1", str(body, "iso-8859-1")


def _decode(body: memoryview, encoding: str, file_label: str) -> str:
    try:
        return str(body, encoding)
    except UnicodeDecodeError as error:
        raise file_error(
            f"{file_label} is not valid {encoding} text (byte 0x{body[error.start]:02x} at "
            f"position {error.start}); check the encoding of the import profile.",
            file_label=file_label,
        ) from error


def looks_binary(text: str) -> bool:
    """NUL bytes or many control characters: an image, a PDF, a zip that is no workbook."""
    sample = text[:BINARY_SAMPLE_CHARS]
    if "\x00" in sample:
        return True
    controls = sum(
        1
        for char in sample
        if (ord(char) < 32 and char not in _TEXT_CONTROLS) or 0x7F <= ord(char) < 0xA0
    )
    return controls > max(2, len(sample) // 100)


def detect_delimiter(text: TextSource, overrides: Overrides) -> str:
    """The candidate whose records look most like a statement: first the header row that
    names most roles, then the most records sharing one field count (> 1)."""
    return max(DELIMITER_CANDIDATES, key=lambda candidate: _score(text, candidate, overrides))


def _score(text: TextSource, delimiter: str, overrides: Overrides) -> tuple[int, int]:
    sample: list[RawRow] = []
    try:
        for line_number, cells in text.records(delimiter):
            row = RawRow(line_number, tuple(cells))
            if not row.is_blank():
                sample.append(row)
            if len(sample) >= SAMPLE_RECORDS:
                break
    except csv.Error:
        return (-1, -1)
    if not sample:
        return (0, 0)
    roles = max(len(match_columns(row.texts, overrides)) for row in sample)
    width, count = Counter(len(row.cells) for row in sample).most_common(1)[0]
    return (roles, count if width > 1 else 0)
