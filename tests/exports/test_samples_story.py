"""The story of shared/samples/README.md, export by export, checked byte for byte."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import NothingToExport
from exports.models import ExportBatch
from exports.selectors import change_summary, export_preview, session_proof
from exports.services import export_batch_create, export_batch_file, export_batch_rebuild

pytestmark = pytest.mark.django_db

HEADER = (
    "batch_code,employee_id,employee_name,amount,receipt_amount,period_start,period_end,"
    "session,change_type,previous_exported_amount,adjustment_amount\r\n"
)
FIRST_EXPORT = HEADER + (
    'PV-2026-10-001,E1001,"Zhang, Alice",155.75,155.00,2026-10-01,2026-10-31,October 2026,'
    "NEW,0.00,155.75\r\n"
    'PV-2026-10-001,E1002,"Okafor, Bob",1205.00,1205.00,2026-10-01,2026-10-31,October 2026,'
    "NEW,0.00,1205.00\r\n"
    'PV-2026-10-001,E1005,"O\'Brien, Ellen",64.00,64.00,2026-10-01,2026-10-31,October 2026,'
    "NEW,0.00,64.00\r\n"
    'PV-2026-10-001,E1007,"Kim, Grace",60.00,60.00,2026-10-01,2026-10-31,October 2026,'
    "NEW,0.00,60.00\r\n"
)
SECOND_EXPORT = HEADER + (
    'PV-2026-10-002,E1001,"Zhang, Alice",155.75,155.75,2026-10-01,2026-10-31,October 2026,'
    "CHANGED,155.75,0.00\r\n"
    'PV-2026-10-002,E1003,"Díaz, Carmen",89.99,89.99,2026-10-01,2026-10-31,October 2026,'
    "NEW,0.00,89.99\r\n"
    'PV-2026-10-002,E1004,"Volkov, Dmitri",512.30,512.30,2026-10-01,2026-10-31,October 2026,'
    "NEW,0.00,512.30\r\n"
    'PV-2026-10-002,E1006,"Haddad, Farid",999.99,999.99,2026-10-01,2026-10-31,October 2026,'
    "NEW,0.00,999.99\r\n"
)


def test_it_exports_the_samples_story_byte_for_byte(make_session, upload_receipts, operator):
    session = make_session()

    first, created = export_batch_create(session=session, export_type="pvault", actor=operator)

    assert created and first.batch_code == "PV-2026-10-001"
    assert export_batch_file(batch=first, actor=operator).decode("utf-8") == FIRST_EXPORT
    assert first.total_amount == Decimal("1484.75") and first.employee_count == 4
    assert session_proof(session).balanced

    upload_receipts(session, "receipts_2026_10_v2.csv")
    summary = change_summary(session)
    assert {k: summary[k] for k in ("new", "changed", "unchanged", "not_ready")} == {
        "new": 3,
        "changed": 1,
        "unchanged": 2,
        "not_ready": 2,
    }
    preview = export_preview(session, export_type="pvault")
    assert [rev.employee_id for rev in preview.employees] == ["E1001", "E1003", "E1004", "E1006"]
    assert (preview.new_count, preview.changed_count, preview.already_exported_count) == (3, 1, 2)

    second, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    assert export_batch_file(batch=second, actor=operator).decode("utf-8") == SECOND_EXPORT
    assert export_batch_rebuild(batch=second) == export_batch_file(batch=second, actor=operator)
    with pytest.raises(NothingToExport):
        export_batch_create(session=session, export_type="pvault", actor=operator)
    assert export_preview(session, export_type="pvault").warnings[0]["code"] == (
        "nothing_to_export"
    )
    proof = session_proof(session)
    assert proof.balanced
    # E1005 went out at 64.00 and is now an exception: nothing more owed for it.
    assert (proof.statement_total, proof.exported, proof.pending, proof.exceptions) == (
        Decimal("3087.03"),
        Decimal("3087.03"),
        Decimal("0.00"),
        Decimal("0.00"),
    )
    assert ExportBatch.objects.filter(session=session).count() == 2


def test_it_reports_the_samples_exceptions_after_v1(make_session, operator):
    session = make_session()

    batch, _ = export_batch_create(session=session, export_type="exceptions", actor=operator)

    text = export_batch_file(batch=batch, actor=operator).decode("utf-8")
    rows = [line.split(",") for line in text.split("\r\n")[1:-1]]
    assert text.startswith(
        "batch_code,employee_id,employee_name,car_amount,receipt_amount,difference,status,"
        "reason,last_changed_at,unmatched_charges,unmatched_charges_amount\r\n"
    )
    assert [row[1] for row in rows] == ["E1003", "E1004", "E1006", "E1008"]
    assert 'EX-2026-10-001,E1003,"Díaz, Carmen",89.99,80.00,-9.99,missing_receipts,' in text
    assert "missing_receipts,Receipts missing for part of the card total,20" in text
    assert batch.mark_as_exported is False
    assert session_proof(session).exported == Decimal("0.00")
