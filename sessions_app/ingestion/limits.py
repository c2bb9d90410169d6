"""The bounds every uploaded file is read within (SPEC §4): each one is a clear row or file
error, never a 500 or unbounded memory."""

from __future__ import annotations

MAX_LINES = 2_000_000
MAX_COLUMNS = 200
MAX_CELL_CHARS = 1_000
# The model field lengths each role's text must fit in.
FIELD_LENGTHS: dict[str, int] = {
    "employee_id": 100,
    "employee_name": 200,
    "merchant": 300,
    "receipt_id": 100,
}
# A workbook is a zip: refused before it is opened when its parts would expand past this.
MAX_XLSX_EXPANDED_BYTES = 1024 * 1024 * 1024
