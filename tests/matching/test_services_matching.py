"""Manual match and unmatch: who may, what they change, and how long they last (SPEC §14)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import ActivityEvent
from matching.models import ManualDecision
from matching.selectors import employee_lines, unmatched_charges
from matching.services import lines_match, lines_unmatch
from recalc.models import RecalcJob
from recalc.services import recalc_job_enqueue
from sessions_app.errors import InvalidState, SessionClosed, StaleVersion, ValidationFailed
from sessions_app.services import receipt_version_reapply, receipt_version_upload, session_close

pytestmark = pytest.mark.django_db

RECEIPTS_HEADER = "Employee Number,Employee Name,Receipt Date,Receipt ID,Amount\n"


def receipts_file(*rows: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("receipts.csv", (RECEIPTS_HEADER + "\n".join(rows) + "\n").encode())


def carmen_match(session: Any, operator: Any, note: str = "receipt total without tip") -> Any:
    """E1003's 89.99 charge by hand with the 80.00 receipt R-5004."""
    lines = employee_lines(session=session, employee_id="E1003")
    card = lines.unmatched_card_lines[0]
    receipt = next(r for r in lines.unmatched_receipt_lines if r.receipt_id == "R-5004")
    return lines_match(
        session=session,
        employee_id="E1003",
        card_line_id=card.id,
        receipt_line_id=receipt.id,
        note=note,
        actor=operator,
        expected_version=lines.version,
    )


def manual_pairs(session: Any, employee_id: str = "E1003") -> list[tuple[Any, ...]]:
    lines = employee_lines(session=session, employee_id=employee_id)
    return [
        (p.card_line.amount, p.receipt_line.amount, p.receipt_line.receipt_id, p.matched_by, p.note)
        for p in lines.pairs
        if p.rule == "manual"
    ]


@pytest.fixture
def recalculate(operator, django_capture_on_commit_callbacks):
    def run(session):
        with django_capture_on_commit_callbacks(execute=True):
            recalc_job_enqueue(session=session, kind=RecalcJob.Kind.MANUAL, actor=operator)
        session.refresh_from_db()

    return run


def test_a_recalculation_pairs_the_lines_of_every_employee(make_session):
    session = make_session()

    alice = employee_lines(session=session, employee_id="E1001")
    dmitri = employee_lines(session=session, employee_id="E1004")

    assert [(p.card_line.amount, p.rule) for p in alice.pairs] == [(Decimal("120.50"), "same_day")]
    assert [line.amount for line in alice.unmatched_card_lines] == [Decimal("35.25")]
    assert [line.amount for line in alice.unmatched_receipt_lines] == [Decimal("34.50")]
    assert [line.amount for line in dmitri.unmatched_card_lines] == [
        Decimal("200.00"),
        Decimal("12.30"),
    ]
    assert alice.explanation == (
        "1 charge without a receipt: 2026-10-05 HILTON GARDEN INN 35.25; "
        "1 receipt without a charge: R-5002 34.50"
    )
    chase = list(unmatched_charges(session=session, employee_ids=["E1004"]))
    assert [(c.employee_name, c.merchant, c.amount) for c in chase] == [
        ("Volkov, Dmitri", "MARRIOTT", Decimal("200.00")),
        ("Volkov, Dmitri", "STARBUCKS", Decimal("12.30")),
    ]


def test_a_manual_match_pairs_any_amounts_with_a_note_and_an_event(make_session, operator):
    session = make_session()

    lines = carmen_match(session, operator)

    assert manual_pairs(session) == [
        (Decimal("89.99"), Decimal("80.00"), "R-5004", "olivia", "receipt total without tip")
    ]
    assert lines.unmatched_card_lines == [] and lines.unmatched_receipt_lines == []
    assert lines.explanation == "pairs matched by hand differ by 9.99"
    assert not unmatched_charges(session=session, employee_ids=["E1003"]).exists()
    event = ActivityEvent.objects.get(verb=ActivityEvent.Verb.LINES_MATCHED)
    assert event.actor == operator and "89.99" in event.message and event.session == session


def test_a_manual_match_survives_recalculation_replace_append_and_rollback(
    make_session, operator, upload_receipts, recalculate, django_capture_on_commit_callbacks
):
    session = make_session()
    carmen_match(session, operator)
    expected = [
        (Decimal("89.99"), Decimal("80.00"), "R-5004", "olivia", "receipt total without tip")
    ]

    recalculate(session)
    assert manual_pairs(session) == expected

    upload_receipts(session, "receipts_2026_10_v2.csv")  # replace: new lines, same receipt
    assert manual_pairs(session) == expected
    assert [r.receipt_id for r in employee_lines(session=session, employee_id="E1003")
            .unmatched_receipt_lines] == ["R-5009"]  # fmt: skip

    upload_receipts(session, "receipts_2026_10_late.csv", mode="append")
    assert manual_pairs(session) == expected

    with django_capture_on_commit_callbacks(execute=True):
        version = receipt_version_reapply(
            session=session, version_number=1, actor=operator, note="wrong file"
        )
    assert version.version == 4
    assert manual_pairs(session) == expected


def test_a_manual_match_ends_with_an_event_when_its_receipt_leaves(
    make_session, operator, django_capture_on_commit_callbacks
):
    session = make_session()
    carmen_match(session, operator)

    with django_capture_on_commit_callbacks(execute=True):
        receipt_version_upload(
            session=session,
            file=receipts_file("E1001,Alice Zhang,2026-10-02,R-5001,120.50"),
            actor=operator,
        )

    assert manual_pairs(session) == []
    decision = ManualDecision.objects.get(kind="match")
    assert decision.ended_at is not None
    assert "left the effective receipts" in decision.ended_reason
    event = ActivityEvent.objects.get(verb=ActivityEvent.Verb.MANUAL_MATCH_ENDED)
    assert "E1003" in event.message and event.session == session
    carmen = employee_lines(session=session, employee_id="E1003")
    assert [line.amount for line in carmen.unmatched_card_lines] == [Decimal("89.99")]


def test_an_unmatch_keeps_the_rounds_off_the_card_line_until_matched_by_hand(
    make_session, operator, recalculate
):
    session = make_session()
    alice = employee_lines(session=session, employee_id="E1001")
    united = alice.pairs[0]

    lines = lines_unmatch(
        session=session,
        employee_id="E1001",
        card_line_id=united.card_line.id,
        note="receipt is for another trip",
        actor=operator,
        expected_version=alice.version,
    )
    recalculate(session)

    again = employee_lines(session=session, employee_id="E1001")
    assert lines.pairs == [] and again.pairs == []
    assert Decimal("120.50") in [line.amount for line in again.unmatched_card_lines]
    assert ActivityEvent.objects.filter(verb=ActivityEvent.Verb.LINES_UNMATCHED).count() == 1

    lines_match(
        session=session,
        employee_id="E1001",
        card_line_id=united.card_line.id,
        receipt_line_id=united.receipt_line.id,
        note="checked again: same trip",
        actor=operator,
    )
    recalculate(session)
    assert [p.rule for p in employee_lines(session=session, employee_id="E1001").pairs] == [
        "manual"
    ]


def test_it_refuses_a_line_already_paired_a_stale_view_and_a_closed_session(make_session, operator):
    session = make_session()
    alice = employee_lines(session=session, employee_id="E1001")
    united = alice.pairs[0]
    hilton = alice.unmatched_card_lines[0]

    with pytest.raises(InvalidState, match="already paired"):
        lines_match(
            session=session, employee_id="E1001", card_line_id=hilton.id,
            receipt_line_id=united.receipt_line.id, note="x", actor=operator,
        )  # fmt: skip
    with pytest.raises(ValidationFailed, match="note"):
        lines_match(
            session=session, employee_id="E1001", card_line_id=hilton.id,
            receipt_line_id=alice.unmatched_receipt_lines[0].id, note=" ", actor=operator,
        )  # fmt: skip
    with pytest.raises(ValidationFailed, match="no card line"):
        lines_match(
            session=session, employee_id="E1002", card_line_id=hilton.id,
            receipt_line_id=alice.unmatched_receipt_lines[0].id, note="x", actor=operator,
        )  # fmt: skip
    lines_unmatch(session=session, employee_id="E1001", card_line_id=united.card_line.id,
                  note="", actor=operator, expected_version=alice.version)  # fmt: skip
    with pytest.raises(StaleVersion):
        lines_match(
            session=session, employee_id="E1001", card_line_id=hilton.id,
            receipt_line_id=alice.unmatched_receipt_lines[0].id, note="x", actor=operator,
            expected_version=alice.version,
        )  # fmt: skip
    session_close(session=session, reason="done", actor=operator, close_anyway=True)
    with pytest.raises(SessionClosed):
        lines_unmatch(session=session, employee_id="E1001", card_line_id=hilton.id,
                      note="", actor=operator)  # fmt: skip
    assert ManualDecision.objects.count() == 1
