"""Line matching computed beside the job on a second connection (matching.beside): the
apply switches to exactly what it would have computed itself; a decision taken meanwhile,
or a failure beside the job, makes the apply pair the session itself. PostgreSQL only."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

import matching.beside
import matching.pairing
import recalc.runner
from matching.beside import MatchingBeside
from matching.models import LinePair, UnmatchedLine
from matching.pairing import session_matching_store
from matching.selectors import employee_lines
from matching.services import applied_receipt_version_ids, lines_unmatch
from recalc.models import RecalcJob
from recalc.services import recalc_job_run, session_recalculate
from sessions_app.models import ProcessingSession

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgres_only"),
]


def stored(session: ProcessingSession) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The pairs and unmatched lines in effect, generation numbers left out."""
    session.refresh_from_db()
    pairs = sorted(
        (p.employee_id, p.card_line_id, p.receipt_line_id, p.rule)
        for p in LinePair.objects.of_session(session)
    )
    unmatched = sorted(
        (u.side, u.employee_id, u.line_id, u.held, u.amount)
        for u in UnmatchedLine.objects.of_session(session)
    )
    return pairs, unmatched


def paired_inline(session: ProcessingSession) -> tuple[list[Any], list[Any]]:
    """What the apply computes on its own connection, for the same lines and decisions."""
    with transaction.atomic():
        locked = ProcessingSession.objects.select_for_update().get(pk=session.pk)
        session_matching_store(locked, version_ids=applied_receipt_version_ids(locked))
    return stored(session)


@pytest.fixture
def pairing_threads(monkeypatch: Any) -> list[str]:
    """The name of the thread each whole-session pairing ran in."""
    names: list[str] = []
    original = matching.pairing.generation_write

    def spy(*args: Any, **kwargs: Any) -> Any:
        names.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(matching.pairing, "generation_write", spy)
    monkeypatch.setattr(matching.beside, "generation_write", spy)
    return names


def run_recalculation(session: ProcessingSession, operator: Any, hold_jobs: Any) -> RecalcJob:
    hold_jobs()
    job = session_recalculate(session=session, actor=operator)
    done = recalc_job_run(job_id=job.pk)
    assert done is not None and done.status == RecalcJob.Status.COMPLETED, done and done.message
    return done


def test_the_apply_switches_to_the_pairs_made_beside_it(
    make_session, operator, hold_jobs, pairing_threads
):
    session = make_session()
    before = stored(session)
    pairing_threads.clear()

    job = run_recalculation(session, operator, hold_jobs)

    assert pairing_threads == [f"matching-{session.pk}"]
    session.refresh_from_db()
    assert session.matching_generation == job.pk * 1000 + job.attempts
    after = stored(session)
    assert after == before
    assert after == paired_inline(session)
    carmen = employee_lines(session=session, employee_id="E1003")
    assert [line.amount for line in carmen.unmatched_card_lines] == [Decimal("89.99")]


def test_a_decision_taken_while_the_job_compares_makes_the_apply_pair_itself(
    make_session, operator, hold_jobs, pairing_threads, monkeypatch
):
    session = make_session()
    alice = employee_lines(session=session, employee_id="E1001")
    card_line = alice.pairs[0].card_line
    started: list[MatchingBeside] = []
    original_start, original_plan = MatchingBeside.start, recalc.runner._stages_plan

    def start(**kwargs: Any) -> MatchingBeside | None:
        beside = original_start(**kwargs)
        started.append(beside)  # type: ignore[arg-type]
        return beside

    unmatched: list[Any] = []

    def plan_then_unmatch(job: Any, monitor: Any) -> Any:
        plan = original_plan(job, monitor)
        started[0].result()  # the pairs beside the job are written and committed
        unmatched.append(
            lines_unmatch(
                session=session,
                employee_id="E1001",
                card_line_id=card_line.id,
                note="not this receipt",
                actor=operator,
            )
        )
        return plan

    monkeypatch.setattr(MatchingBeside, "start", start)
    monkeypatch.setattr(recalc.runner, "_stages_plan", plan_then_unmatch)
    pairing_threads.clear()

    run_recalculation(session, operator, hold_jobs)

    assert pairing_threads == [f"matching-{session.pk}", "MainThread"]
    alice = employee_lines(session=session, employee_id="E1001")
    assert (card_line.id, True) in [(line.id, line.held) for line in alice.unmatched_card_lines]
    assert alice.pairs == unmatched[0].pairs
    assert alice.unmatched_card_lines == unmatched[0].unmatched_card_lines
    assert alice.unmatched_receipt_lines == unmatched[0].unmatched_receipt_lines
    assert stored(session) == paired_inline(session)


def test_a_failure_beside_the_job_leaves_the_pairing_to_the_apply(
    make_session, operator, hold_jobs, monkeypatch
):
    session = make_session()
    expected = stored(session)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("connection lost")

    monkeypatch.setattr(matching.beside, "generation_write", broken)

    job = run_recalculation(session, operator, hold_jobs)

    session.refresh_from_db()
    assert session.matching_generation == job.pk * 1000 + job.attempts
    assert stored(session) == expected


def test_a_recalculation_writes_only_what_changed_and_prunes_what_nobody_reads(
    make_session, upload_receipts, operator, hold_jobs
):
    session = make_session()
    first = ProcessingSession.objects.get(pk=session.pk).matching_generation
    as_first = stored(session)
    run_recalculation(session, operator, hold_jobs)  # nothing changed: nothing rewritten
    second = ProcessingSession.objects.get(pk=session.pk).matching_generation
    assert stored(session) == as_first
    assert set(LinePair.objects.filter(session=session).values_list("generation", flat=True)) == {
        first
    }

    upload_receipts(session, "receipts_2026_10_v2.csv")  # jobs are held: run it here
    recalc_job_run(job_id=RecalcJob.objects.filter(session=session).latest("pk").pk)
    third = ProcessingSession.objects.get(pk=session.pk).matching_generation

    assert first < second < third
    rewritten = set(
        UnmatchedLine.objects.filter(session=session, generation=third).values_list(
            "employee_id", flat=True
        )
    ) | set(
        LinePair.objects.filter(session=session, generation=third).values_list(
            "employee_id", flat=True
        )
    )
    session.refresh_from_db()
    kept = set(
        UnmatchedLine.objects.of_session(session)
        .filter(generation=first)
        .values_list("employee_id", flat=True)
    )
    # The receipts of E1001, E1003, E1004, E1005 and E1006 changed; E1002's, E1007's and
    # E1008's did not, and their rows stay as the first recalculation wrote them.
    assert rewritten == {"E1001", "E1003", "E1004", "E1005", "E1006"}
    assert kept == {"E1002", "E1007", "E1008"}
    # A page that loaded the session just before the switch still reads a whole matching.
    stale = ProcessingSession.objects.get(pk=session.pk)
    stale.matching_generation = second
    assert stored_as_of(stale) == as_first[0]

    run_recalculation(session, operator, hold_jobs)

    # What the generation in effect replaced is gone; everything left is in effect.
    for model in (LinePair, UnmatchedLine):
        assert model.objects.filter(session=session).count() == (
            model.objects.of_session(ProcessingSession.objects.get(pk=session.pk)).count()
        )


def stored_as_of(session: ProcessingSession) -> list[tuple[Any, ...]]:
    return sorted(
        (p.employee_id, p.card_line_id, p.receipt_line_id, p.rule)
        for p in LinePair.objects.of_session(session)
    )
