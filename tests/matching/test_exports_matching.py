"""The exceptions report carries each exception employee's unmatched charges; the pVault
file does not change; analytics count unmatched charges per session (SPEC §11, §14)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from audit.analytics import session_analytics
from exports.models import ExportLine
from exports.services import export_batch_create, export_batch_rebuild, export_batch_stored_bytes
from exports.writers import EXCEPTIONS_COLUMNS, PVAULT_COLUMNS
from sessions_app.models import Engagement

pytestmark = pytest.mark.django_db


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_the_exceptions_report_ends_with_the_unmatched_charges(make_session, operator):
    session = make_session()

    batch, _ = export_batch_create(session=session, export_type="exceptions", actor=operator)

    rows = rows_of(export_batch_stored_bytes(batch))
    assert rows[0] == [*EXCEPTIONS_COLUMNS, "unmatched_charges", "unmatched_charges_amount"]
    by_employee = {row[1]: row[-2:] for row in rows[1:]}
    assert by_employee["E1004"] == ["2", "212.30"]
    assert by_employee["E1003"] == ["1", "89.99"]
    assert by_employee["E1008"] == ["0", "0.00"]  # receipts without card activity
    assert export_batch_rebuild(batch=batch) == export_batch_stored_bytes(batch)


def test_the_xlsx_report_has_numbers_in_the_new_columns(make_session, operator):
    session = make_session()

    batch, _ = export_batch_create(
        session=session, export_type="exceptions", actor=operator, file_format="xlsx"
    )

    sheet = load_workbook(io.BytesIO(export_batch_stored_bytes(batch))).active
    header = [cell.value for cell in sheet[1]]
    assert header[-2:] == ["unmatched_charges", "unmatched_charges_amount"]
    values = {row[1]: row[-2:] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert values["E1004"] == (2, 212.3)


def test_a_report_made_before_line_matching_is_rebuilt_as_it_was(make_session, operator):
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="exceptions", actor=operator)
    ExportLine.objects.filter(batch=batch).update(
        unmatched_charge_count=None, unmatched_charge_amount=None
    )

    rebuilt = rows_of(export_batch_rebuild(batch=batch))

    assert rebuilt[0] == EXCEPTIONS_COLUMNS
    assert all(len(row) == len(EXCEPTIONS_COLUMNS) for row in rebuilt)


def test_the_pvault_file_keeps_its_columns(make_session, operator):
    session = make_session()

    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    assert rows_of(export_batch_stored_bytes(batch))[0] == PVAULT_COLUMNS


def test_analytics_count_unmatched_charges_per_session(make_session):
    session = make_session()

    result = session_analytics(engagements=Engagement.objects.filter(slug="acme-corp"))

    row = next(r for r in result.exception_rate["sessions"] if r["session_id"] == session.pk)
    assert (row["unmatched_charges"], row["unmatched_charges_amount"]) == (9, Decimal("2602.53"))
    assert result.exception_rate["unmatched_charges"] == 9
