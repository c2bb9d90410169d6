"""A recalculation pairs again only the employees whose lines changed (matching.pairing), and
what pages and the API read is still SPEC §14 over the lines in effect: after replace and
append uploads, rollbacks, a replaced card statement, manual decisions and an attempt that
never finished."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.models import LinePair, UnmatchedLine
from matching.pairing import generation_write, matching_basis
from matching.selectors import employee_lines
from matching.services import lines_unmatch
from recalc.models import RecalcJob
from recalc.services import recalc_job_enqueue
from sessions_app.models import CardTransaction, ProcessingSession
from sessions_app.services import (
    receipt_version_reapply,
    receipt_version_upload,
    session_create,
)
from sessions_app.versions import effective_receipt_version_numbers, receipt_lines_in_effect
from tests.matching.test_pairing_properties import reference_pairs

pytestmark = pytest.mark.django_db

DAY0 = datetime.date(2026, 10, 1)
CARD_HEADER = "Employee ID,Cardholder Name,Transaction Date,Merchant,Amount\n"
RECEIPTS_HEADER = "Employee Number,Employee Name,Receipt Date,Receipt ID,Amount\n"
EMPLOYEES = ["E1", "E2", "E3", "E4"]

Line = tuple[str, int, str]  # employee, day of October - 1, amount


def card_file(lines: list[Line]) -> SimpleUploadedFile:
    rows = [
        f"{e},Name {e},{DAY0 + datetime.timedelta(day):%Y-%m-%d},SHOP {n},{amount}"
        for n, (e, day, amount) in enumerate(lines)
    ]
    return SimpleUploadedFile("card.csv", (CARD_HEADER + "\n".join(rows) + "\n").encode())


def receipts_file(lines: list[Line], tag: str) -> SimpleUploadedFile:
    rows = [
        f"{e},Name {e},{DAY0 + datetime.timedelta(day):%Y-%m-%d},R-{n},{amount}"
        for n, (e, day, amount) in enumerate(lines)
    ]
    return SimpleUploadedFile(
        f"receipts-{tag}.csv", (RECEIPTS_HEADER + "\n".join(rows) + "\n").encode()
    )


def stored_view(session: ProcessingSession) -> tuple[set[tuple], set[tuple]]:
    """What the employee pages show, by line id: pairs and unmatched lines."""
    pairs, unmatched = set(), set()
    employees = set(
        CardTransaction.objects.filter(session=session).values_list("employee_id", flat=True)
    ) | set(receipt_lines_in_effect(session).values_list("employee_id", flat=True))
    for employee_id in employees:
        lines = employee_lines(session=session, employee_id=employee_id)
        for pair in lines.pairs:
            pairs.add((employee_id, pair.card_line.id, pair.receipt_line.id, pair.rule))
        for line in lines.unmatched_card_lines + lines.unmatched_receipt_lines:
            unmatched.add((line.side, line.id, line.amount))
    return pairs, unmatched


def expected_view(session: ProcessingSession) -> tuple[set[tuple], set[tuple]]:
    """SPEC §14 written out plainly over the lines in effect (no manual decisions)."""
    cards = [
        {"employee_id": c.employee_id, "amount": c.amount, "date": c.transaction_date,
         "line_number": c.line_number, "key": c.pk}
        for c in CardTransaction.objects.filter(session=session)
    ]  # fmt: skip
    receipts = [
        {"employee_id": r.employee_id, "amount": r.amount, "date": r.receipt_date,
         "line_number": r.line_number, "version": r.receipt_version.version, "key": r.pk}
        for r in receipt_lines_in_effect(session).select_related("receipt_version")
    ]  # fmt: skip
    pairs = reference_pairs(cards, receipts)
    paired = {("card", p[1]) for p in pairs} | {("receipt", p[2]) for p in pairs}
    unmatched = {("card", c["key"], c["amount"]) for c in cards} | {
        ("receipt", r["key"], r["amount"]) for r in receipts
    }
    return pairs, {u for u in unmatched if (u[0], u[1]) not in paired}


def assert_matching_is_the_spec(session: ProcessingSession) -> None:
    session.refresh_from_db()
    pairs, unmatched = stored_view(session)
    expected_pairs, expected_unmatched = expected_view(session)
    assert pairs == expected_pairs
    assert unmatched == expected_unmatched
    # Every stored row in effect is shown once: nothing replaced leaks in, nothing doubles.
    assert LinePair.objects.of_session(session).count() == len(pairs)
    assert UnmatchedLine.objects.of_session(session).count() == len(unmatched)


@pytest.fixture
def flow(engagement, operator, django_capture_on_commit_callbacks):
    class Flow:
        def create(self, cards: list[Line], receipts: list[Line]) -> ProcessingSession:
            with django_capture_on_commit_callbacks(execute=True):
                session = session_create(
                    engagement=engagement, name="October", period_start=DAY0,
                    period_end=datetime.date(2026, 10, 31), card_file=card_file(cards),
                    receipts_file=receipts_file(receipts, "v1"), actor=operator,
                )  # fmt: skip
            session.refresh_from_db()
            return session

        def upload(self, session: ProcessingSession, lines: list[Line], mode: str) -> None:
            tag = f"v{len(effective_receipt_version_numbers(session)) + 10}-{id(lines)}"
            with django_capture_on_commit_callbacks(execute=True):
                receipt_version_upload(
                    session=session, file=receipts_file(lines, tag), actor=operator, mode=mode,
                    force=True,
                )  # fmt: skip
            session.refresh_from_db()

        def rollback(self, session: ProcessingSession, version: int) -> None:
            with django_capture_on_commit_callbacks(execute=True):
                receipt_version_reapply(session=session, version_number=version, actor=operator)
            session.refresh_from_db()

        def recalculate(self, session: ProcessingSession) -> None:
            with django_capture_on_commit_callbacks(execute=True):
                recalc_job_enqueue(session=session, kind=RecalcJob.Kind.MANUAL, actor=operator)
            session.refresh_from_db()

    return Flow()


CARDS: list[Line] = [
    ("E1", 0, "10.00"), ("E1", 1, "25.50"), ("E2", 2, "40.00"), ("E2", 3, "40.00"),
    ("E3", 4, "7.25"), ("E4", 5, "99.99"),
]  # fmt: skip
RECEIPTS: list[Line] = [
    ("E1", 0, "10.00"), ("E1", 3, "25.50"), ("E2", 2, "40.00"), ("E2", 9, "40.00"),
    ("E3", 4, "7.25"), ("E4", 5, "12.00"),
]  # fmt: skip


def test_a_replace_upload_pairs_again_only_the_employees_whose_receipts_changed(flow):
    session = flow.create(CARDS, RECEIPTS)
    assert_matching_is_the_spec(session)
    kept_before = set(
        LinePair.objects.of_session(session).filter(employee_id="E2").values_list("pk", flat=True)
    )
    changed = [line if line[0] != "E4" else ("E4", 5, "99.99") for line in RECEIPTS]

    flow.upload(session, changed, mode="replace")

    assert_matching_is_the_spec(session)
    # E2's lines are the same: their pairs are the rows written before, now naming the
    # replacing version's lines on the page ...
    assert (
        set(
            LinePair.objects.of_session(session)
            .filter(employee_id="E2")
            .values_list("pk", flat=True)
        )
        == kept_before
    )
    shown = employee_lines(session=session, employee_id="E2").pairs
    assert {p.receipt_line.version for p in shown} == {2}
    # ... while E4, whose receipt changed, was paired again in the new generation.
    e4 = LinePair.objects.of_session(session).get(employee_id="E4")
    assert e4.generation == session.matching_generation
    assert e4.rule == "same_day"


def test_appends_rollbacks_and_a_new_card_statement_keep_the_matching_exact(flow, operator):
    session = flow.create(CARDS, RECEIPTS)
    flow.upload(session, [("E4", 5, "99.99"), ("E3", 4, "7.25")], mode="append")
    assert_matching_is_the_spec(session)
    flow.upload(session, [*RECEIPTS[:3], ("E2", 3, "40.00")], mode="replace")
    assert_matching_is_the_spec(session)
    flow.rollback(session, 2)
    assert_matching_is_the_spec(session)
    flow.recalculate(session)
    assert_matching_is_the_spec(session)
    # A decision made by hand is kept; the employee is paired again every time.
    e1 = employee_lines(session=session, employee_id="E1")
    lines_unmatch(
        session=session, employee_id="E1", card_line_id=e1.pairs[0].card_line.id, note="",
        actor=operator, expected_version=e1.version,
    )  # fmt: skip
    flow.upload(session, RECEIPTS, mode="replace")
    lines = employee_lines(session=session, employee_id="E1")
    assert any(line.held for line in lines.unmatched_card_lines)
    assert len(lines.pairs) == 1


def test_an_attempt_that_never_finished_leaves_nothing_behind(flow):
    session = flow.create(CARDS, RECEIPTS)
    in_effect = session.matching_generation
    # An attempt (a killed job's) retires every row and writes its own, never switched on.
    with transaction.atomic():
        unfinished = ProcessingSession.objects.get(pk=session.pk)
        unfinished.matching_basis = ""
        generation_write(
            unfinished,
            generation=in_effect + 5,
            basis=matching_basis(session.pk, []),
            manual=[],
        )
    assert_matching_is_the_spec(session)  # readers see the generation in effect, whole

    flow.upload(session, [line for line in RECEIPTS if line[0] != "E3"], mode="replace")

    assert_matching_is_the_spec(session)
    assert not LinePair.objects.filter(session=session, generation=in_effect + 5).exists()


amounts = st.sampled_from(["10.00", "10.00", "25.50", "-4.99", "99.01"])
lines = st.lists(
    st.tuples(st.sampled_from(EMPLOYEES), st.integers(0, 8), amounts), min_size=1, max_size=10
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("replace"), lines),
        st.tuples(st.just("append"), lines),
        st.tuples(st.just("edit"), st.sampled_from(EMPLOYEES)),
        st.tuples(st.just("rollback"), st.integers(1, 4)),
    ),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cards=lines, receipts=lines, steps=steps)
def test_after_any_sequence_of_uploads_the_stored_matching_is_the_spec(
    flow, cards, receipts, steps
):
    with transaction.atomic():
        session = flow.create(cards, receipts)
        assert_matching_is_the_spec(session)
        current = list(receipts)
        for kind, value in steps:
            if kind == "edit":  # one employee's receipts change, the others' stay
                current = [
                    (e, day, str(Decimal(amount) + 1)) if e == value else (e, day, amount)
                    for e, day, amount in current
                ]
                flow.upload(session, current, mode="replace")
            elif kind == "rollback":
                applied = effective_receipt_version_numbers(session)
                if value > max(applied):
                    continue
                flow.rollback(session, value)
            else:
                flow.upload(session, value, mode=kind)
                current = value if kind == "replace" else current + value
            assert_matching_is_the_spec(session)
        transaction.set_rollback(True)
