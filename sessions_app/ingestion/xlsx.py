"""XLSX workbooks read as a stream (openpyxl read-only mode), within the limits.

A workbook is a zip: a few hundred kilobytes can expand to gigabytes of sheet or of
shared strings. Its parts are measured before it is opened, the shared strings and sheets
are scanned for an over-long text without being held (openpyxl would load a shared string
or a cell whole), and the rows are read one at a time, afresh on every reading, so memory
stays bounded whatever the sheet claims."""

from __future__ import annotations

import datetime
import io
import re
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from html import unescape
from typing import IO, Any

from core.errors import InvalidFile

from .limits import MAX_CELL_CHARS, MAX_COLUMNS, MAX_LINES, MAX_XLSX_EXPANDED_BYTES
from .reader import Cell, RawTable, Record, file_error

_CHUNK = 1024 * 1024
# A run of text between two tags longer than a cell may be, in bytes (UTF-8 and entities
# make a character take up to a few bytes, so a run this long is measured exactly).
_LONG_TEXT = re.compile(rb"[^<]{%d,}" % (MAX_CELL_CHARS + 1))
# No character takes more than ten bytes (`&#x10FFFF;`): a run longer is surely too long.
_SURELY_LONG = 10 * MAX_CELL_CHARS


def read_workbook(data: bytes, file_label: str) -> RawTable:
    """The first worksheet's rows, numbered as the spreadsheet numbers them."""
    _check_parts(data, file_label)
    workbook = _open(data, file_label)
    workbook.close()
    return RawTable("xlsx", None, None, lambda: _rows(data, file_label))


def _check_parts(data: bytes, file_label: str) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as error:
        raise _unreadable(file_label) from error
    with archive:
        expanded = sum(info.file_size for info in archive.infolist())
        if expanded > MAX_XLSX_EXPANDED_BYTES:
            raise file_error(
                f"{file_label} is a workbook that expands to {expanded / 1024**3:.1f} GB; "
                f"the limit is {MAX_XLSX_EXPANDED_BYTES / 1024**3:.0f} GB. Save the sheet "
                "as CSV, or remove what makes it so large.",
                file_label=file_label,
            )
        for name in archive.namelist():
            # The shared strings and the sheets are where a cell's text can be.
            if name.startswith("xl/") and name.endswith(".xml") and "theme" not in name:
                with archive.open(name) as part:
                    _check_texts(part, file_label)


def _check_texts(stream: IO[bytes], file_label: str) -> None:
    """Refuse a text longer than a cell may be, and a sheet of more rows than the limit,
    reading the part a chunk at a time."""
    carry = b""
    rows = 0
    while True:
        chunk = stream.read(_CHUNK)
        text = carry + chunk
        rows += chunk.count(b"<row") + chunk.count(b":row ") + chunk.count(b":row>")
        if rows > MAX_LINES:
            raise file_error(
                f"{file_label} has a sheet of more than {MAX_LINES:,} rows, the limit.",
                file_label=file_label,
            )
        for match in _LONG_TEXT.finditer(text):
            if match.end() == len(text) and chunk and len(match.group()) <= _SURELY_LONG:
                break  # may go on in the next chunk: measured there
            _refuse_long_text(match.group(), file_label)
        if not chunk:
            return
        # The unfinished text at the end goes on to the next chunk (bounded: a longer
        # run was refused above).
        cut = text.rfind(b"<")
        carry = text[max(cut, len(text) - _SURELY_LONG - 1) :]


def _refuse_long_text(run: bytes, file_label: str) -> None:
    if len(run) > _SURELY_LONG:
        length = f"more than {MAX_CELL_CHARS:,}"
    else:
        chars = len(unescape(run.decode("utf-8", "replace")))
        if chars <= MAX_CELL_CHARS:
            return
        length = f"{chars:,}"
    raise file_error(
        f"{file_label} holds a text of {length} characters; the limit for a cell is "
        f"{MAX_CELL_CHARS:,}.",
        file_label=file_label,
    )


def _open(data: bytes, file_label: str) -> Any:
    import openpyxl  # only spreadsheet uploads pay for the import (a third of a second)

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl reports a damaged archive in many ways
        raise _unreadable(file_label) from error
    if not workbook.worksheets:
        workbook.close()
        raise file_error(f"{file_label} has no worksheet.", file_label=file_label)
    return workbook


def _unreadable(file_label: str) -> InvalidFile:
    return file_error(
        f"{file_label} looks like a zip archive but is not a readable XLSX workbook "
        "(is it damaged or truncated?).",
        file_label=file_label,
    )


def _rows(data: bytes, file_label: str) -> Iterator[Record]:
    workbook = _open(data, file_label)
    try:
        sheet = workbook.worksheets[0]
        # Read one column past the limit, to know when a row goes beyond it.
        rows = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1)
        # read-only sheets yield empty tuples for missing rows, so enumerate = row number
        for number, values in enumerate(rows, start=1):
            if number > MAX_LINES:
                raise file_error(
                    f"{file_label} has more than {MAX_LINES:,} rows, the limit.",
                    file_label=file_label,
                    line=number,
                )
            yield number, _cells(values, number, file_label)
    except InvalidFile:
        raise
    except Exception as error:  # a sheet damaged past its first rows
        raise _unreadable(file_label) from error
    finally:
        workbook.close()


def _cells(values: tuple[object, ...], number: int, file_label: str) -> tuple[Cell, ...]:
    while values and values[-1] is None:
        values = values[:-1]
    if len(values) > MAX_COLUMNS:
        raise file_error(
            f"{file_label} has more than {MAX_COLUMNS} columns on row {number}, the limit.",
            file_label=file_label,
            line=number,
        )
    cells = tuple(_xlsx_cell(value) for value in values)
    for cell in cells:
        if isinstance(cell, str) and len(cell) > MAX_CELL_CHARS:
            raise file_error(
                f"{file_label} has a cell of {len(cell):,} characters on row {number}; "
                f"the limit is {MAX_CELL_CHARS:,}.",
                file_label=file_label,
                line=number,
            )
    return cells


def _xlsx_cell(value: object) -> Cell:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return Decimal(str(value))  # str() of a float is its shortest exact-looking form
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, datetime.time):
        return value.isoformat()
    return str(value)
