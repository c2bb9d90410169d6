from __future__ import annotations

import datetime
import hashlib
import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.storage import default_storage

from audit.models import ActivityEvent
from core.errors import (
    ConfirmRequired,
    InvalidState,
    JobActive,
    NothingToExport,
    SessionClosed,
    ValidationFailed,
)
from core.faults import injected_fault
from exports.errors import ExportFileCorrupt
from exports.models import ExportBatch, ExportLine
from exports.selectors import change_summary, export_preview, session_proof
from exports.services import (
    export_batch_create,
    export_batch_file,
    export_batch_mark_exported,
    export_batch_rebuild,
    export_batch_void,
)
from sessions_app.models import EmployeeRevision
from sessions_app.services import revision_resolve, session_close, session_update
from tests.factories import EngagementFactory

pytestmark = pytest.mark.django_db


def snapshot(employee_id: str) -> tuple:
    rev = EmployeeRevision.objects.get(employee_id=employee_id)
    code = rev.last_export_batch.batch_code if rev.last_export_batch else None
    return rev.exported_car_amount, rev.exported_receipt_amount, code


def stored_files() -> list[str]:
    found = []
    directories = ["exports"]
    while directories:
        folder = directories.pop()
        if not default_storage.exists(folder):
            continue
        subfolders, files = default_storage.listdir(folder)
        directories += [f"{folder}/{name}" for name in subfolders]
        found += [f"{folder}/{name}" for name in files]
    return found


# --- Generation ------------------------------------------------------------------------------


def test_it_returns_the_same_batch_for_a_replayed_idempotency_key(make_session, operator):
    session = make_session()

    first, created = export_batch_create(
        session=session, export_type="pvault", actor=operator, idempotency_key="req-1"
    )
    again, created_again = export_batch_create(
        session=session, export_type="pvault", actor=operator, idempotency_key="req-1"
    )

    assert created and not created_again
    assert again.pk == first.pk
    assert ExportBatch.objects.count() == 1
    assert ActivityEvent.objects.filter(verb="export_generated").count() == 1


def test_it_stores_the_file_with_its_size_and_sha256(make_session, operator):
    session = make_session()

    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    data = default_storage.open(batch.file.name, "rb").read()
    assert batch.file.name == f"exports/{session.engagement_id}/{session.pk}/PV-2026-10-001.csv"
    assert batch.file_size == len(data)
    assert batch.sha256 == hashlib.sha256(data).hexdigest()
    assert not data.startswith(b"\xef\xbb\xbf")
    (created,) = batch.history.all()  # one history row, holding the final state
    assert (created.history_type, created.sha256, created.employee_count) == ("+", batch.sha256, 4)
    assert created.history_change_reason == "export generated: PV-2026-10-001"
    assert created.history_user == operator
    event = ActivityEvent.objects.get(verb="export_generated")
    assert event.actor == operator and event.details["batch_code"] == "PV-2026-10-001"
    assert event.details["total_amount"] == "1484.75"


def test_it_writes_history_rows_for_the_export_snapshots(make_session, operator):
    session = make_session()

    export_batch_create(session=session, export_type="pvault", actor=operator)

    rev = EmployeeRevision.objects.get(employee_id="E1002")
    latest = rev.history.order_by("-history_id").first()
    assert latest.history_change_reason == "exported in PV-2026-10-001"
    assert latest.history_user == operator
    assert latest.exported_car_amount == Decimal("1205.00")
    assert (
        EmployeeRevision.history.filter(history_change_reason__startswith="exported").count() == 4
    )


def test_it_downloads_identical_bytes_and_records_each_download(make_session, operator):
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    first = export_batch_file(batch=batch, actor=operator)
    second = export_batch_file(batch=batch, actor=operator)

    assert first == second == export_batch_rebuild(batch=batch)
    assert ActivityEvent.objects.filter(verb="export_downloaded").count() == 2


def test_it_refuses_a_download_whose_file_was_altered_or_lost(make_session, operator):
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    path = default_storage.path(batch.file.name)
    with open(path, "r+b") as handle:
        handle.seek(-6, io.SEEK_END)
        handle.write(b"999.75")

    with pytest.raises(ExportFileCorrupt) as altered:
        export_batch_file(batch=batch, actor=operator)
    default_storage.delete(batch.file.name)
    with pytest.raises(ExportFileCorrupt) as lost:
        export_batch_file(batch=batch, actor=operator)

    assert altered.value.code == "export_file_corrupt" and "sha256" in altered.value.message
    assert "missing" in lost.value.message
    assert not ActivityEvent.objects.filter(verb="export_downloaded").exists()


def test_it_rebuilds_the_file_byte_for_byte_after_the_session_is_renamed(make_session, operator):
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    session_update(session=session, name="Renamed later", actor=operator)
    batch.refresh_from_db()

    assert export_batch_rebuild(batch=batch) == export_batch_file(batch=batch, actor=operator)


def test_it_leaves_no_file_behind_when_generation_fails_after_writing(make_session, operator):
    session = make_session()

    def broken(batch):
        raise RuntimeError("audit store unavailable")

    with injected_fault("exports.file_stored", broken), pytest.raises(RuntimeError):
        export_batch_create(session=session, export_type="pvault", actor=operator)

    assert stored_files() == []
    assert not ExportBatch.objects.exists() and not ExportLine.objects.exists()
    assert change_summary(session)["new"] == 4


def test_it_refuses_new_exports_of_a_closed_session_but_still_serves_downloads(
    make_session, operator
):
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    session_close(session=session, reason="period done", actor=operator)

    with pytest.raises(SessionClosed) as closed:
        export_batch_create(session=session, export_type="exceptions", actor=operator)
    with pytest.raises(SessionClosed):
        export_batch_void(batch=batch, reason="oops", actor=operator)

    assert closed.value.code == "session_closed" and closed.value.http_status == 409
    assert export_batch_file(batch=batch, actor=operator).startswith(b"batch_code,")


def test_it_refuses_to_export_while_a_recalculation_waits(make_session, upload_receipts, operator):
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv", preview=True)

    with pytest.raises(JobActive) as refused:
        export_batch_create(session=session, export_type="pvault", actor=operator)

    assert refused.value.code == "job_active" and refused.value.details["job"]
    assert export_preview(session, export_type="pvault").blocking[0]["code"] == "job_active"


def test_it_numbers_batches_per_period_within_each_engagement(make_session, operator, engagement):
    acme = make_session()
    acme_second_card = make_session(name="October 2026 (second card)")
    other = make_session(engagement=EngagementFactory(name="Globex", slug="globex"))

    first, _ = export_batch_create(session=acme, export_type="pvault", actor=operator)
    second, _ = export_batch_create(session=acme_second_card, export_type="pvault", actor=operator)
    globex, _ = export_batch_create(session=other, export_type="pvault", actor=operator)
    report, _ = export_batch_create(session=acme, export_type="exceptions", actor=operator)

    assert [first.batch_code, second.batch_code, globex.batch_code, report.batch_code] == [
        "PV-2026-10-001",
        "PV-2026-10-002",
        "PV-2026-10-001",
        "EX-2026-10-001",
    ]


def test_it_takes_the_next_code_when_another_session_took_it_first(make_session, operator):
    acme = make_session()
    other = make_session(name="October 2026 (second card)")
    export_batch_create(session=other, export_type="pvault", actor=operator)
    picked = []
    answers = iter([1])  # as if the other session's batch were not committed yet

    def racing(sequence: int) -> int:
        picked.append(sequence)
        return next(answers, sequence)

    with injected_fault("exports.sequence_picked", racing):
        batch, _ = export_batch_create(session=acme, export_type="pvault", actor=operator)

    assert batch.batch_code == "PV-2026-10-002"
    assert picked == [2, 2]  # the stale number was refused, and the next one read again
    assert sorted(stored_files()) == sorted(
        b.file.name for b in ExportBatch.objects.all()
    )  # the losing attempt's file is gone


def test_it_says_nothing_to_export_instead_of_writing_an_empty_file(make_session, operator):
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)

    with pytest.raises(NothingToExport) as nothing:
        export_batch_create(session=session, export_type="pvault", actor=operator)

    assert nothing.value.code == "nothing_to_export"
    assert ExportBatch.objects.count() == 1


def test_it_asks_for_confirmation_and_a_reason_before_repeating_employees(make_session, operator):
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)

    with pytest.raises(ConfirmRequired) as unconfirmed:
        export_batch_create(session=session, export_type="pvault", delta_only=False, actor=operator)
    with pytest.raises(ConfirmRequired):
        export_batch_create(
            session=session, export_type="pvault", delta_only=False, confirm=True, actor=operator
        )
    batch, _ = export_batch_create(
        session=session,
        export_type="pvault",
        delta_only=False,
        confirm=True,
        reason="pVault lost the October import",
        actor=operator,
    )

    assert unconfirmed.value.details["already_exported_count"] == 4
    assert unconfirmed.value.details["batches"] == [
        {"batch_code": "PV-2026-10-001", "employee_count": 4}
    ]
    assert batch.reason == "pVault lost the October import"
    assert batch.warnings[0]["code"] == "already_exported"
    lines = list(batch.lines.values_list("change_type", "adjustment_amount"))
    assert lines == [("CHANGED", Decimal("0.00"))] * 4
    event = ActivityEvent.objects.filter(verb="export_generated").first()
    assert event.details["reason"] == "pVault lost the October import"
    assert "pVault lost the October import" in event.message
    assert session_proof(session).balanced


def test_it_reports_exceptions_as_xlsx_that_rebuilds_identically(make_session, operator):
    session = make_session()
    EmployeeRevision.objects.filter(employee_id="E1003").update(employee_name="=SUM(A1)")

    batch, _ = export_batch_create(
        session=session, export_type="exceptions", file_format="xlsx", actor=operator
    )

    data = export_batch_file(batch=batch, actor=operator)
    assert batch.batch_code == "EX-2026-10-001" and batch.file.name.endswith(".xlsx")
    assert export_batch_rebuild(batch=batch) == data
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("batch_code", "employee_id", "employee_name", "car_amount")
    assert rows[1][1:6] == ("E1003", "'=SUM(A1)", 89.99, 80, -9.99)
    assert sheet["C2"].data_type == "s"  # text, never a formula
    assert [row[1] for row in rows[1:]] == ["E1003", "E1004", "E1006", "E1008"]


def test_it_reports_only_new_or_changed_exceptions_in_a_delta_report(
    make_session, upload_receipts, operator
):
    session = make_session()
    export_batch_create(session=session, export_type="exceptions", actor=operator)

    with pytest.raises(NothingToExport):
        export_batch_create(session=session, export_type="exceptions", actor=operator)
    upload_receipts(session, "receipts_2026_10_v2.csv")
    batch, _ = export_batch_create(session=session, export_type="exceptions", actor=operator)
    everything, _ = export_batch_create(
        session=session, export_type="exceptions", delta_only=False, actor=operator
    )

    # After v2 only E1005 (now excess receipts) is a new exception; E1008 is unchanged.
    assert list(batch.lines.values_list("employee_id", flat=True)) == ["E1005"]
    assert list(everything.lines.values_list("employee_id", flat=True)) == ["E1005", "E1008"]


def test_it_refuses_an_unknown_type_or_format(make_session, operator):
    session = make_session()

    with pytest.raises(ValidationFailed):
        export_batch_create(session=session, export_type="payroll", actor=operator)
    with pytest.raises(ValidationFailed):
        export_batch_create(
            session=session, export_type="pvault", file_format="xlsx", actor=operator
        )


# --- Void ------------------------------------------------------------------------------------


def test_it_voids_a_batch_and_restores_each_previous_snapshot(
    make_session, upload_receipts, operator
):
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)
    upload_receipts(session, "receipts_2026_10_v2.csv")
    second, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    voided = export_batch_void(batch=second, reason="loaded into the wrong company", actor=operator)

    assert voided.is_void and voided.void_reason == "loaded into the wrong company"
    assert voided.voided_by == operator
    latest = voided.history.order_by("-history_id").first()
    assert (latest.status, latest.history_change_reason) == (
        "void",
        "voided: loaded into the wrong company",
    )
    assert snapshot("E1001") == (Decimal("155.75"), Decimal("155.00"), "PV-2026-10-001")
    assert snapshot("E1003") == (None, None, None)
    summary = change_summary(session)
    assert (summary["new"], summary["changed"]) == (3, 1)
    assert session_proof(session).balanced
    rev = EmployeeRevision.objects.get(employee_id="E1003")
    assert rev.history.order_by("-history_id").first().history_change_reason == (
        "PV-2026-10-002 voided: loaded into the wrong company"
    )
    assert ActivityEvent.objects.filter(verb="export_voided").get().details["reason"] == (
        "loaded into the wrong company"
    )
    again, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    assert again.batch_code == "PV-2026-10-003"
    assert again.lines.count() == 4


def test_it_refuses_to_void_a_batch_that_a_later_batch_builds_on(
    make_session, upload_receipts, operator
):
    session = make_session()
    first, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    upload_receipts(session, "receipts_2026_10_v2.csv")
    export_batch_create(session=session, export_type="pvault", actor=operator)

    with pytest.raises(InvalidState) as refused:
        export_batch_void(batch=first, reason="mistake", actor=operator)

    assert refused.value.details["later_batches"] == {"PV-2026-10-002": ["E1001"]}
    first.refresh_from_db()
    assert not first.is_void


def test_it_voids_only_pvault_batches_and_only_with_a_reason(make_session, operator):
    session = make_session()
    pvault, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    report, _ = export_batch_create(session=session, export_type="exceptions", actor=operator)

    with pytest.raises(ValidationFailed):
        export_batch_void(batch=pvault, reason="  ", actor=operator)
    with pytest.raises(InvalidState):
        export_batch_void(batch=report, reason="not needed", actor=operator)
    export_batch_void(batch=pvault, reason="duplicate", actor=operator)
    with pytest.raises(InvalidState):
        export_batch_void(batch=pvault, reason="again", actor=operator)


# --- Two-step flow: generate, load into pVault, mark -----------------------------------------


def test_it_counts_an_unmarked_batch_only_once_it_is_marked(make_session, operator):
    session = make_session()

    batch, _ = export_batch_create(
        session=session, export_type="pvault", mark_as_exported=False, actor=operator
    )

    assert batch.mark_as_exported is False and batch.marked_at is None
    assert change_summary(session)["new"] == 4
    assert session_proof(session).exported == Decimal("0.00")
    assert session_proof(session).balanced
    with pytest.raises(InvalidState) as waiting:
        export_batch_create(session=session, export_type="pvault", actor=operator)
    assert waiting.value.details["batches"] == ["PV-2026-10-001"]

    assert export_batch_mark_exported(batch=batch, actor=operator, employee_ids=["E1002"]) == 1
    assert session_proof(session).exported == Decimal("1205.00")
    assert session_proof(session).balanced
    assert export_batch_mark_exported(batch=batch, actor=operator) == 3
    assert export_batch_mark_exported(batch=batch, actor=operator) == 0

    batch.refresh_from_db()
    assert batch.marked_at is not None
    assert change_summary(session)["unchanged"] == 4
    proof = session_proof(session)
    assert proof.exported == Decimal("1484.75") and proof.balanced
    assert snapshot("E1005") == (Decimal("64.00"), Decimal("64.00"), "PV-2026-10-001")
    assert ActivityEvent.objects.filter(verb="export_marked").count() == 2


def test_it_refuses_to_mark_employees_that_are_not_in_the_batch(make_session, operator):
    session = make_session()
    batch, _ = export_batch_create(
        session=session, export_type="pvault", mark_as_exported=False, actor=operator
    )

    with pytest.raises(ValidationFailed) as unknown:
        export_batch_mark_exported(batch=batch, actor=operator, employee_ids=["E1003", "E9999"])

    assert unknown.value.details["unknown_employee_ids"] == ["E1003", "E9999"]
    assert session_proof(session).exported == Decimal("0.00")


def test_it_voids_a_partly_marked_batch_restoring_only_what_was_marked(make_session, operator):
    session = make_session()
    batch, _ = export_batch_create(
        session=session, export_type="pvault", mark_as_exported=False, actor=operator
    )
    export_batch_mark_exported(batch=batch, actor=operator, employee_ids=["E1001"])

    export_batch_void(batch=batch, reason="pVault rejected the file", actor=operator)

    assert snapshot("E1001") == (None, None, None)
    assert change_summary(session)["new"] == 4
    assert session_proof(session).balanced
    fresh, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    assert fresh.employee_count == 4


def test_it_keeps_a_resolved_employee_exportable(make_session, operator):
    session = make_session()
    rev = EmployeeRevision.objects.get(session=session, employee_id="E1003")
    revision_resolve(
        revision=rev, note="receipt lost, approved", expected_version=1, actor=operator
    )

    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    assert "E1003" in set(batch.lines.values_list("employee_id", flat=True))
    assert session_proof(session).balanced


def test_it_snapshots_header_cells_on_the_batch(make_session, operator):
    session = make_session()

    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    assert (batch.period, batch.session_name) == ("2026-10", "October 2026")
    assert (batch.period_start, batch.period_end) == (
        datetime.date(2026, 10, 1),
        datetime.date(2026, 10, 31),
    )
