"""The one-statement PostgreSQL paths of an export (INSERT … RETURNING, UPDATE and its
history in one WITH) against the portable paths every database takes: same lines, same
snapshots, same history rows, same bytes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from core.faults import injected_fault
from exports import snapshots
from exports.models import ExportBatch, ExportLine
from exports.selectors import change_summary
from exports.services import (
    export_batch_create,
    export_batch_mark_exported,
    export_batch_rebuild,
    export_batch_stored_bytes,
    export_batch_void,
)
from exports.services import generate as services
from sessions_app.models import EmployeeRevision, ProcessingSession

pytestmark = pytest.mark.django_db

LINE_FIELDS = [
    field.name
    for field in ExportLine._meta.concrete_fields
    # Ids and times differ between two runs by nature; whether they are set is compared.
    if field.name
    not in (
        *("id", "batch", "revision", "previous_batch"),
        *("marked_at", "last_changed_at", "previous_exported_at"),
    )
]


def portable(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (services, snapshots):
        monkeypatch.setattr(module, "uses_returning_path", lambda: False)


def story(session: ProcessingSession, upload_receipts: Callable[..., Any], actor: Any) -> None:
    """Export, late receipts, delta export, void it, export unmarked, mark it."""
    export_batch_create(session=session, export_type="pvault", actor=actor)
    export_batch_create(session=session, export_type="exceptions", actor=actor)
    upload_receipts(session, "receipts_2026_10_v2.csv")
    second, _ = export_batch_create(session=session, export_type="pvault", actor=actor)
    export_batch_void(batch=second, reason="loaded twice by mistake", actor=actor)
    unmarked, _ = export_batch_create(
        session=session, export_type="pvault", actor=actor, mark_as_exported=False
    )
    export_batch_mark_exported(batch=unmarked, actor=actor)


def codes_of(session: ProcessingSession) -> dict[Any, str]:
    """Batch ids → their order in the session, so two sessions' batches compare."""
    batches = ExportBatch.objects.filter(session=session).order_by("pk")
    return {batch.pk: f"batch-{n}" for n, batch in enumerate(batches, start=1)}


def files_of(session: ProcessingSession) -> list[bytes]:
    """The pVault files (an exceptions report holds each line's last change time)."""
    batches = ExportBatch.objects.filter(session=session, export_type="pvault").order_by("pk")
    return [
        export_batch_stored_bytes(batch).replace(batch.batch_code.encode(), b"CODE")
        for batch in batches
    ]


def lines_of(session: ProcessingSession) -> list[tuple]:
    codes = codes_of(session)
    lines = ExportLine.objects.filter(batch__session=session).order_by("batch_id", "employee_id")
    return [
        (
            codes[line.batch_id],
            codes.get(line.previous_batch_id),
            line.marked_at is None,
            line.last_changed_at is None,
            line.previous_exported_at is None,
            *(getattr(line, name) for name in LINE_FIELDS),
        )
        for line in lines
    ]


def history_of(session: ProcessingSession) -> list[tuple]:
    codes = codes_of(session)
    rows = EmployeeRevision.history.filter(  # type: ignore[attr-defined]
        session_id=session.pk, history_type="~"
    ).order_by("employee_id", "history_date", "history_id")
    batch_codes = dict(ExportBatch.objects.filter(session=session).values_list("pk", "batch_code"))
    result = []
    for row in rows:
        text = row.history_change_reason
        for pk, code in batch_codes.items():
            text = text.replace(code, codes[pk])
        result.append(
            (
                row.employee_id,
                row.employee_name,
                row.car_amount,
                row.receipt_amount,
                row.status,
                row.version,
                row.exported_car_amount,
                row.exported_receipt_amount,
                codes.get(row.last_export_batch_id),
                row.exported_at is None,
                row.history_user_id,
                text,
            )
        )
    return result


def test_it_writes_complete_history_rows_holding_each_revisions_new_values(
    make_session, upload_receipts, operator
):
    session = make_session()

    story(session, upload_receipts, operator)

    history = EmployeeRevision.history.model  # type: ignore[attr-defined]
    for revision in EmployeeRevision.objects.filter(session=session):
        latest = revision.history.order_by("-history_date", "-history_id").first()
        for field in history.tracked_fields:
            assert getattr(latest, field.attname) == getattr(revision, field.attname), field
        if revision.exported_at is not None:
            assert latest.history_type == "~"
            assert latest.history_user_id == operator.pk
            assert latest.history_change_reason


def test_it_gives_the_same_lines_history_and_bytes_on_both_paths(
    make_session, upload_receipts, operator, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement paths are PostgreSQL's; elsewhere both are portable")
    fast = make_session(name="October A")
    story(fast, upload_receipts, operator)
    portable(monkeypatch)
    slow = make_session(name="October B")
    story(slow, upload_receipts, operator)

    assert len(lines_of(fast)) > 10
    assert lines_of(fast) == lines_of(slow)
    assert history_of(fast) == history_of(slow)
    assert [f.replace(b"October A", b"October B") for f in files_of(fast)] == files_of(slow)


def test_it_rebuilds_a_returning_path_file_byte_for_byte(make_session, operator):
    session = make_session()

    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    assert export_batch_rebuild(batch=batch) == export_batch_stored_bytes(batch)
    assert batch.employee_count == ExportLine.objects.filter(batch=batch).count()


def _nothing_written(session: ProcessingSession, summary: dict[str, Any]) -> None:
    assert not ExportBatch.objects.filter(session=session).exists()
    assert not ExportLine.objects.filter(batch__session=session).exists()
    assert not EmployeeRevision.objects.filter(session=session, exported_at__isnull=False)
    assert change_summary(session) == summary
    exports = Path(settings.MEDIA_ROOT) / "exports"
    assert not any(path.is_file() for path in exports.rglob("*"))


@pytest.mark.parametrize("failing", ["exports.file_written", "exports.snapshots_set"])
def test_it_writes_nothing_when_the_file_writer_or_the_statements_beside_it_fail(
    make_session, operator, failing
):
    """The file is written in a thread while the snapshots move: a failure on either side
    undoes both."""
    session = make_session()
    summary = change_summary(session)

    def broken(value: Any) -> Any:
        raise RuntimeError(f"{failing} failed")

    with injected_fault(failing, broken), pytest.raises(RuntimeError, match=f"{failing} failed"):
        export_batch_create(session=session, export_type="pvault", actor=operator)

    _nothing_written(session, summary)
