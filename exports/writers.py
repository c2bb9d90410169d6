"""The bytes of export files: pVault CSV, exceptions CSV/XLSX, bulk ZIP and its manifest.

Every writer is a pure function of a batch header and its lines, so a stored file can be
rebuilt byte for byte from its ExportLines. CSV is RFC 4180 (`\\r\\n`, minimal quoting),
UTF-8 without BOM, amounts with two decimals and no separators. Text cells that a
spreadsheet would read as a formula are neutralised; amounts are numbers, never text.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.writer.excel import ExcelWriter

PVAULT_COLUMNS = [
    "batch_code",
    "employee_id",
    "employee_name",
    "amount",
    "receipt_amount",
    "period_start",
    "period_end",
    "session",
    "change_type",
    "previous_exported_amount",
    "adjustment_amount",
]
EXCEPTIONS_COLUMNS = [
    "batch_code",
    "employee_id",
    "employee_name",
    "car_amount",
    "receipt_amount",
    "difference",
    "status",
    "reason",
    "last_changed_at",
]
# Appended after the columns above (SPEC §14): a report made before line matching has none,
# and its lines say so (no count), so it is rebuilt as it was written.
EXCEPTIONS_MATCHING_COLUMNS = ["unmatched_charges", "unmatched_charges_amount"]
MANIFEST_COLUMNS = [
    "session_id",
    "session",
    "batch_code",
    "export_type",
    "employee_count",
    "total_amount",
    "file_name",
    "file_size",
    "sha256",
    "error",
]
# Excel, LibreOffice and Google Sheets start a formula (or DDE payload) with these.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Fixed ZIP entry times: the same lines give the same bytes on any day.
ZIP_ENTRY_TIME = (1980, 1, 1, 0, 0, 0)
WORKBOOK_TIMESTAMP = datetime.datetime(2000, 1, 1)  # naive: openpyxl writes it as UTC
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
}


def content_type_for(file_format: str) -> str:
    """The one table of what each export file is served as (page, API and admin alike)."""
    return CONTENT_TYPES.get(file_format, "application/octet-stream")


class BatchHeader(Protocol):
    batch_code: str
    session_name: str
    period_start: datetime.date | None
    period_end: datetime.date | None


def text_cell(value: Any) -> str:
    """A text cell that no spreadsheet will evaluate: a leading `'` is how Excel itself
    marks 'this is text', and it keeps the visible value readable."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def money_cell(value: Decimal | None) -> str:
    # Fast path for what PostgreSQL returns (two places already): str() of such a Decimal
    # is exactly the `.2f` text, at a fraction of the cost, 300k times per 100k-line file.
    if type(value) is Decimal:
        text = str(value)
        if text[-3:-2] == "." and "E" not in text and text not in ("0.00", "-0.00"):
            return text
    amount = Decimal("0") if value is None else Decimal(value)
    # SQLite can hand back -0.00 from float arithmetic; pVault must never see it.
    return f"{(amount if amount != 0 else Decimal('0')):.2f}"


def date_cell(value: datetime.date | None) -> str:
    return value.isoformat() if value else ""


def datetime_cell(value: datetime.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def pvault_rows(batch: BatchHeader, lines: Iterable[Any]) -> Iterable[list[str]]:
    # The batch's cells are the same on every line: formatted once, not 100k times.
    code, session = text_cell(batch.batch_code), text_cell(batch.session_name)
    start, end = date_cell(batch.period_start), date_cell(batch.period_end)
    for line in lines:
        yield [
            code,
            text_cell(line.employee_id),
            text_cell(line.employee_name),
            money_cell(line.car_amount),
            money_cell(line.receipt_amount),
            start,
            end,
            session,
            text_cell(line.change_type),
            money_cell(line.previous_exported_amount),
            money_cell(line.adjustment_amount),
        ]


def _unmatched_charges(line: Any) -> int | None:
    """The line's count of unmatched charges; None for lines that have none (made before
    line matching, or rows of another shape)."""
    return getattr(line, "unmatched_charge_count", None)


def exceptions_columns(lines: Sequence[Any]) -> list[str]:
    with_matching = bool(lines) and _unmatched_charges(lines[0]) is not None
    return EXCEPTIONS_COLUMNS + (EXCEPTIONS_MATCHING_COLUMNS if with_matching else [])


def exceptions_rows(batch: BatchHeader, lines: Iterable[Any]) -> Iterable[list[str]]:
    code = text_cell(batch.batch_code)
    for line in lines:
        row = [
            code,
            text_cell(line.employee_id),
            text_cell(line.employee_name),
            money_cell(line.car_amount),
            money_cell(line.receipt_amount),
            money_cell(line.difference),
            text_cell(line.status),
            text_cell(line.reason),
            datetime_cell(line.last_changed_at),
        ]
        count = _unmatched_charges(line)
        if count is not None:
            row += [str(count), money_cell(line.unmatched_charge_amount)]
        yield row


def pvault_csv(batch: BatchHeader, lines: Iterable[Any]) -> bytes:
    return _csv_bytes(PVAULT_COLUMNS, pvault_rows(batch, lines))


def exceptions_csv(batch: BatchHeader, lines: Sequence[Any]) -> bytes:
    return _csv_bytes(exceptions_columns(lines), exceptions_rows(batch, lines))


# car_amount, receipt_amount, difference, unmatched_charges_amount (0-based)
EXCEPTIONS_MONEY_COLUMNS = {3, 4, 5, 10}
EXCEPTIONS_COUNT_COLUMNS = {9}


def exceptions_xlsx(batch: BatchHeader, lines: Sequence[Any]) -> bytes:
    """The exceptions report as a workbook. Amounts are numbers formatted `0.00`; every
    other cell is forced to be a string, so `=SUM(A1)` is shown, never evaluated."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Exceptions"
    for column, title in enumerate(exceptions_columns(lines), start=1):
        sheet.cell(row=1, column=column, value=title).font = Font(bold=True)
    for row_number, row in enumerate(exceptions_rows(batch, lines), start=2):
        for index, value in enumerate(row):
            cell = sheet.cell(row=row_number, column=index + 1)
            if index in EXCEPTIONS_MONEY_COLUMNS:
                cell.value = Decimal(value)
                cell.number_format = "0.00"
            elif index in EXCEPTIONS_COUNT_COLUMNS:
                cell.value = int(value)
            else:
                cell.value = value
                cell.data_type = "s"
    sheet.freeze_panes = "A2"
    return _workbook_bytes(workbook)


def _workbook_bytes(workbook: Workbook) -> bytes:
    # openpyxl stamps "now" into docProps/core.xml and into every ZIP entry; both are
    # pinned so that rebuilding the report from its lines gives the same bytes. (The
    # generation time is on the batch and in the audit trail, not in the file.)
    workbook.properties.creator = "Closebook"
    workbook.properties.created = WORKBOOK_TIMESTAMP
    workbook.properties.modified = WORKBOOK_TIMESTAMP
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).write_data()
    with zipfile.ZipFile(raw) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    return zip_bytes(members)


def zip_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A ZIP whose bytes depend only on the names and contents given, in that order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_ENTRY_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def manifest_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    """The bulk export's table of contents: one row per session asked for."""
    return _csv_bytes(
        MANIFEST_COLUMNS,
        (
            [
                str(row.get("session_id", "")),
                text_cell(row.get("session", "")),
                text_cell(row.get("batch_code") or ""),
                text_cell(row.get("export_type", "")),
                str(row.get("employee_count", "")),
                money_cell(row["total_amount"]) if row.get("total_amount") is not None else "",
                text_cell(row.get("file_name") or ""),
                str(row.get("file_size", "")),
                row.get("sha256") or "",
                text_cell(row.get("error") or ""),
            ]
            for row in rows
        ),
    )


def manifest_json(results: list[dict[str, Any]]) -> bytes:
    """The bulk export's per-session results as JSON: the sessions in the order asked
    for, then the ids that named no session."""
    return json.dumps({"results": results}, indent=2, sort_keys=True, default=str).encode()


def export_file_bytes(batch: Any, lines: Sequence[Any]) -> bytes:
    """The file of a batch of either type and format, from its lines in employee order."""
    if batch.export_type == "pvault":
        return pvault_csv(batch, lines)
    if batch.file_format == "xlsx":
        return exceptions_xlsx(batch, lines)
    return exceptions_csv(batch, lines)
