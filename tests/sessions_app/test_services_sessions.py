from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.storage import default_storage

from audit.models import ActivityEvent
from core.errors import DuplicateFile, InvalidFile, SessionClosed, StaleVersion
from recalc.models import RecalcJob
from sessions_app.models import (
    CardTransaction,
    EmployeeRevision,
    ProcessingSession,
    ReceiptLine,
    ReceiptVersion,
)
from sessions_app.services import (
    receipt_version_reapply,
    revision_resolve,
    session_close,
    session_update,
)
from tests.samples import AFTER_V1, fixture_file, results

pytestmark = pytest.mark.django_db


def test_it_reconciles_the_samples_card_and_v1(make_session):
    session = make_session()

    assert session.status == ProcessingSession.Status.COMPLETED
    assert results(session) == AFTER_V1
    names = dict(EmployeeRevision.objects.values_list("employee_id", "employee_name"))
    assert names["E1003"] == "Díaz, Carmen"  # card statement name wins
    assert names["E1008"] == "Hiro Tanaka"  # receipts name when there are no card lines
    job = RecalcJob.objects.get(session=session)
    assert job.status == RecalcJob.Status.COMPLETED and job.progress == 1.0


def test_it_gives_the_same_results_from_the_cp1252_semicolon_file(make_session):
    session = make_session(receipts="receipts_2026_10_v1_cp1252_semicolon.csv")

    assert results(session) == AFTER_V1


def test_it_records_previous_amounts_when_v2_replaces_v1(make_session, upload_receipts):
    session = make_session()

    upload_receipts(session, "receipts_2026_10_v2.csv")

    after = results(session)
    assert after["E1001"] == ("155.75", "155.75", "matched")
    assert after["E1005"] == ("64.00", "74.00", "excess_receipts")
    assert after["E1006"] == ("999.99", "999.99", "matched")
    e1001 = EmployeeRevision.objects.get(employee_id="E1001")
    assert e1001.previous_receipt_amount == Decimal("155.00")
    assert e1001.amount_changed is True
    assert e1001.receipt_version_processed == 2
    e1002 = EmployeeRevision.objects.get(employee_id="E1002")
    assert e1002.amount_changed is False
    history = e1001.history.order_by("history_id")
    assert [h.receipt_amount for h in history] == [Decimal("155.00"), Decimal("155.75")]
    assert history.last().history_change_reason == "receipts v2 applied"
    assert history.last().history_user.username == "olivia"


def test_it_appends_late_receipts_skipping_the_duplicate(make_session, upload_receipts):
    session = make_session()

    version = upload_receipts(session, "receipts_2026_10_late.csv", mode="append")

    assert version.duplicate_count == 1
    assert version.lines.count() == 1
    expected = dict(AFTER_V1, E1006=("999.99", "999.99", "matched"))
    assert results(session) == expected


def test_it_rejects_a_bad_file_and_stores_nothing(make_session, upload_receipts, media_root):
    session = make_session()
    before = {
        model: model.objects.count()
        for model in (ReceiptVersion, ReceiptLine, CardTransaction, EmployeeRevision, RecalcJob)
    }
    events_before = ActivityEvent.objects.count()
    files_before = sorted(p for p in media_root.rglob("*") if p.is_file())

    with pytest.raises(InvalidFile) as raised:
        upload_receipts(session, "receipts_bad.csv")

    assert [e["line"] for e in raised.value.details] == [2, 3, 4]
    assert {model: model.objects.count() for model in before} == before
    assert ActivityEvent.objects.count() == events_before
    assert sorted(p for p in media_root.rglob("*") if p.is_file()) == files_before


def test_it_stores_nothing_when_the_card_file_is_bad(make_session, media_root):
    with pytest.raises(InvalidFile):
        make_session(card="receipts_bad.csv")

    assert ProcessingSession.objects.count() == 0
    assert CardTransaction.objects.count() == 0
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_it_refuses_an_identical_receipts_file_unless_forced(make_session, upload_receipts):
    session = make_session()

    with pytest.raises(DuplicateFile, match=r"identical to version 1 uploaded on .* by olivia"):
        upload_receipts(session, "receipts_2026_10_v1.csv")
    forced = upload_receipts(session, "receipts_2026_10_v1.csv", force=True)

    assert forced.version == 2


def test_it_keeps_uploaded_files_in_storage(make_session):
    session = make_session()

    version = session.receipt_versions.get()
    assert default_storage.exists(session.card_file.name)
    assert (
        default_storage.open(version.file.name).read()
        == fixture_file("receipts_2026_10_v1.csv").read()
    )


def test_it_rolls_back_to_an_earlier_version(
    make_session, upload_receipts, operator, django_capture_on_commit_callbacks
):
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv")

    with django_capture_on_commit_callbacks(execute=True):
        version = receipt_version_reapply(session=session, version_number=1, actor=operator)

    assert version.version == 3 and version.note == "rollback to v1"
    assert results(session) == AFTER_V1
    assert ReceiptVersion.objects.filter(session=session).count() == 3


def test_it_recalculates_when_the_tolerance_changes(
    make_session, operator, django_capture_on_commit_callbacks
):
    session = make_session()

    with django_capture_on_commit_callbacks(execute=True):
        session_update(session=session, tolerance="10.00", actor=operator)

    assert results(session)["E1003"][2] == "matched"


def test_it_resolves_with_optimistic_concurrency(make_session, operator):
    make_session()
    revision = EmployeeRevision.objects.get(employee_id="E1004")

    resolved = revision_resolve(
        revision=revision, note="hotel deposit refunded", expected_version=1, actor=operator
    )

    assert resolved.status == "resolved" and resolved.version == 2
    with pytest.raises(StaleVersion, match="changed by olivia"):
        revision_resolve(revision=revision, note="again", expected_version=1, actor=operator)


def test_it_clears_a_resolution_when_the_amounts_change(make_session, upload_receipts, operator):
    session = make_session()
    revision = EmployeeRevision.objects.get(employee_id="E1004")
    revision_resolve(revision=revision, note="accepted", expected_version=1, actor=operator)

    upload_receipts(session, "receipts_2026_10_v2.csv")

    revision.refresh_from_db()
    assert revision.status == "matched"
    assert revision.resolution_note == ""
    assert list(revision.history.order_by("history_id").values_list("status", flat=True)) == [
        "missing_receipts",
        "resolved",
        "matched",
    ]


def test_it_keeps_a_resolution_while_amounts_hold(make_session, upload_receipts, operator):
    session = make_session()
    revision = EmployeeRevision.objects.get(employee_id="E1008")
    revision_resolve(revision=revision, note="personal card", expected_version=1, actor=operator)

    upload_receipts(session, "receipts_2026_10_v2.csv")

    revision.refresh_from_db()
    assert revision.status == "resolved"


def test_it_closes_a_session_for_good(make_session, upload_receipts, operator):
    session = make_session()

    session_close(session=session, reason="period finished", actor=operator)

    session.refresh_from_db()
    assert session.status == "closed" and session.closure_reason == "period finished"
    with pytest.raises(SessionClosed):
        upload_receipts(session, "receipts_2026_10_v2.csv")
    assert ActivityEvent.objects.filter(verb="session_closed", session=session).count() == 1


def test_it_revokes_a_membership_and_records_it(engagement, operator, viewer):
    from sessions_app.models import Membership
    from sessions_app.services import membership_revoke

    membership_revoke(engagement=engagement, user=viewer, actor=operator)

    assert not Membership.objects.filter(user=viewer).exists()
    event = ActivityEvent.objects.get(verb="membership_revoked")
    assert event.actor == operator and "victor" in event.message


def test_it_records_session_status_moves_in_history(make_session, upload_receipts):
    session = make_session()

    upload_receipts(session, "receipts_2026_10_v2.csv")

    statuses = list(session.history.order_by("history_id").values_list("status", flat=True))
    assert statuses[-1] == "completed"
    assert "reprocessing" in statuses
