from __future__ import annotations

import csv
import datetime
import io
import zipfile
from decimal import Decimal
from types import SimpleNamespace

import openpyxl
import pytest

from exports.selectors import session_proof
from exports.services import export_batch_create, export_batch_file
from exports.writers import (
    exceptions_csv,
    exceptions_xlsx,
    manifest_csv,
    money_cell,
    pvault_csv,
    text_cell,
    zip_bytes,
)
from sessions_app.models import EmployeeRevision

HEADER = SimpleNamespace(
    batch_code="PV-2026-10-007",
    session_name="October 2026",
    period_start=datetime.date(2026, 10, 1),
    period_end=datetime.date(2026, 10, 31),
)
DANGEROUS = ["=SUM(A1)", "@cmd", "+1+1", "-2+3", "\tdata", "\rdata"]


def pvault_line(employee_id: str, name: str, amount: str = "10.00", **extra) -> SimpleNamespace:
    values = {
        "employee_id": employee_id,
        "employee_name": name,
        "car_amount": Decimal(amount),
        "receipt_amount": Decimal(amount),
        "change_type": "NEW",
        "previous_exported_amount": Decimal("0.00"),
        "adjustment_amount": Decimal(amount),
        "difference": Decimal("0.00"),
        "status": "missing_receipts",
        "reason": "Receipts missing",
        "last_changed_at": datetime.datetime(2026, 10, 21, 9, 30, 5, tzinfo=datetime.UTC),
    }
    values.update(extra)
    return SimpleNamespace(**values)


@pytest.mark.parametrize("value", DANGEROUS)
def test_it_neutralises_text_that_a_spreadsheet_would_run(value):
    assert text_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Alice", "O'Brien, Ellen", "", "E-1001", "1=1"])
def test_it_leaves_ordinary_text_alone(value):
    assert text_cell(value) == value


def test_it_writes_amounts_with_two_decimals_and_no_separators():
    assert money_cell(Decimal("1234567.5")) == "1234567.50"
    assert money_cell(Decimal("-45")) == "-45.00"
    assert money_cell(Decimal("-0.00")) == "0.00"
    assert money_cell(None) == "0.00"


def test_it_writes_rfc_4180_utf8_csv_with_the_pvault_columns():
    lines = [
        pvault_line("E1", 'Ann "The Boss" Lee, CFO', "1234.5"),
        pvault_line("E2", "Zoë\nMüller", "-45.00"),
    ]

    data = pvault_csv(HEADER, lines)

    text = data.decode("utf-8")
    assert not data.startswith(b"\xef\xbb\xbf")
    assert text.splitlines()[0] == (
        "batch_code,employee_id,employee_name,amount,receipt_amount,period_start,period_end,"
        "session,change_type,previous_exported_amount,adjustment_amount"
    )
    assert text.endswith("\r\n") and text.count("\r\n") == 3
    assert (
        '"Ann ""The Boss"" Lee, CFO",1234.50,1234.50,2026-10-01,2026-10-31,October 2026,NEW' in text
    )
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[2][2] == "Zoë\nMüller"
    assert rows[2][3] == "-45.00"  # an amount: never prefixed


def test_it_neutralises_every_dangerous_name_in_csv_and_xlsx():
    lines = [pvault_line(f"E{i}", value) for i, value in enumerate(DANGEROUS)]

    csv_rows = list(csv.reader(io.StringIO(exceptions_csv(HEADER, lines).decode(), newline="")))
    sheet = openpyxl.load_workbook(io.BytesIO(exceptions_xlsx(HEADER, lines))).active

    assert [row[2] for row in csv_rows[1:]] == ["'" + value for value in DANGEROUS]
    names = [sheet.cell(row=i + 2, column=3) for i in range(len(DANGEROUS))]
    # XML reads a lone CR back as LF; what matters is the leading quote and the type.
    assert [cell.value for cell in names] == ["'" + v.replace("\r", "\n") for v in DANGEROUS]
    assert {cell.data_type for cell in names} == {"s"}
    assert sheet.cell(row=2, column=9).value == datetime.datetime(2026, 10, 21, 9, 30, 5)


def test_it_writes_amounts_and_dates_as_numbers_people_can_read_in_a_spreadsheet():
    lines = [pvault_line("E1", "Ann", "12345.60")]

    sheet = openpyxl.load_workbook(io.BytesIO(exceptions_xlsx(HEADER, lines))).active

    amount = sheet.cell(row=2, column=4)
    assert (amount.value, amount.number_format) == (12345.6, "#,##0.00")
    changed = sheet.cell(row=2, column=9)
    assert changed.is_date and changed.number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet.cell(row=1, column=9).value == "last_changed_at (UTC)"
    widths = [sheet.column_dimensions[letter].width for letter in "ABCDEFGHI"]
    assert all(width >= 14 for width in widths)


def test_it_writes_the_same_xlsx_bytes_every_time():
    lines = [pvault_line("E1", "Ann")]

    assert exceptions_xlsx(HEADER, lines) == exceptions_xlsx(HEADER, lines)


def test_it_writes_a_deterministic_zip_with_a_manifest():
    manifest = manifest_csv(
        [
            {"session_id": 1, "session": "=evil", "batch_code": "PV-2026-10-001"}
            | {"export_type": "pvault", "employee_count": 2, "total_amount": Decimal("3.5")}
            | {"file_name": "PV-2026-10-001.csv", "file_size": 10, "sha256": "ab"},
            {"session_id": 2, "session": "Closed one", "error": "Session is closed"},
        ]
    )
    members = [("PV-2026-10-001.csv", b"a,b\r\n"), ("manifest.csv", manifest)]

    first, second = zip_bytes(members), zip_bytes(members)

    assert first == second
    archive = zipfile.ZipFile(io.BytesIO(first))
    assert archive.namelist() == ["PV-2026-10-001.csv", "manifest.csv"]
    rows = archive.read("manifest.csv").decode().split("\r\n")
    assert rows[1] == "1,'=evil,PV-2026-10-001,pvault,2,3.50,PV-2026-10-001.csv,10,ab,"
    assert rows[2] == "2,Closed one,,,,,,,,Session is closed"


@pytest.mark.django_db
def test_it_keeps_formula_names_out_of_a_real_pvault_file(make_session, operator):
    session = make_session()
    EmployeeRevision.objects.filter(employee_id="E1002").update(employee_name="=SUM(A1)")
    EmployeeRevision.objects.filter(employee_id="E1005").update(employee_name="@cmd")

    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    rows = list(csv.reader(io.StringIO(export_batch_file(batch=batch, actor=operator).decode())))
    names = {row[1]: row[2] for row in rows[1:]}
    assert names["E1002"] == "'=SUM(A1)" and names["E1005"] == "'@cmd"
    assert session_proof(session).balanced
