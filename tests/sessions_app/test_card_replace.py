"""Replacing a session's card statement (SPEC §7 "CAR replacement"): allowed only before the
first pVault export; the new lines take the old ones' place and every employee is
recalculated from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from audit.models import ActivityEvent
from core.errors import (
    CardReplaceNotAllowed,
    DuplicateFile,
    InvalidFile,
    JobActive,
    SessionClosed,
    ValidationFailed,
)
from exports.models import ExportBatch
from exports.selectors import session_proof
from exports.services import export_batch_create, export_batch_void
from recalc.models import RecalcJob
from recalc.services import recalc_job_run, session_recalculate
from sessions_app.models import CardTransaction, EmployeeRevision, ProcessingSession
from sessions_app.services import (
    card_replace_refusal,
    import_profile_save,
    revision_resolve,
    session_card_replace,
    session_close,
)
from tests.concurrency import Contender
from tests.factories import EngagementFactory
from tests.samples import CORRECTED, fixture_file, results

pytestmark = pytest.mark.django_db

# The samples' receipts v1 against the corrected statement (tolerance 1.00): E1002 lost its
# credit, E1003 was overcharged, E1004 and E1006 are gone from it, E1009 is new.
AFTER_CORRECTION = {
    "E1001": ("155.75", "155.00", "matched"),
    "E1002": ("1250.00", "1205.00", "missing_receipts"),
    "E1003": ("80.00", "80.00", "matched"),
    "E1004": ("0.00", "300.00", "no_card_activity"),
    "E1005": ("64.00", "64.00", "matched"),
    "E1006": ("0.00", "0.00", "no_card_activity"),
    "E1007": ("60.00", "60.00", "matched"),
    "E1008": ("0.00", "25.00", "no_card_activity"),
    "E1009": ("50.00", "0.00", "missing_receipts"),
}


def visible_rows(session: ProcessingSession) -> dict[str, tuple[Any, ...]]:
    """What the employee table shows of each employee."""
    fields = ("employee_name", "car_amount", "receipt_amount", "difference", "status")
    return {
        row[0]: row[1:]
        for row in EmployeeRevision.objects.filter(session=session).values_list(
            "employee_id", *fields, "has_card_lines"
        )
    }


@pytest.fixture
def replace(operator: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., RecalcJob]:
    """Replace the statement as an operator would, the job run by the (inline) worker."""

    def run(session: ProcessingSession, name: str = CORRECTED, **kwargs: Any) -> RecalcJob:
        kwargs.setdefault("actor", operator)
        with django_capture_on_commit_callbacks(execute=True):
            job = session_card_replace(session=session, file=fixture_file(name), **kwargs)
        job.refresh_from_db()
        session.refresh_from_db()
        return job

    return run


@pytest.fixture
def untouched(media_root: Path) -> Callable[[ProcessingSession], dict[str, Any]]:
    """Everything a replacement could write, to show a refused one wrote nothing."""

    def snapshot(session: ProcessingSession) -> dict[str, Any]:
        session.refresh_from_db()
        return {
            "card": (
                session.card_file.name,
                session.card_file_name,
                session.card_sha256,
                session.card_row_count,
                session.status,
            ),
            "lines": list(
                CardTransaction.objects.filter(session=session)
                .order_by("line_number")
                .values_list("line_number", "employee_id", "amount")
            ),
            "results": results(session),
            "jobs": RecalcJob.objects.filter(session=session).count(),
            "events": ActivityEvent.objects.filter(session=session).count(),
            "history": session.history.count(),
            "files": sorted(str(p) for p in media_root.rglob("*") if p.is_file()),
        }

    return snapshot


# --- What a replacement does --------------------------------------------------------------------


def test_it_recalculates_every_employee_from_the_new_statement(
    make_session: Any, replace: Any
) -> None:
    session = make_session()

    job = replace(session, note="bank re-issued the statement")

    assert job.kind == RecalcJob.Kind.CARD
    assert job.status == RecalcJob.Status.COMPLETED
    assert session.status == ProcessingSession.Status.COMPLETED
    assert results(session) == AFTER_CORRECTION
    assert session.card_file_name == CORRECTED
    assert session.card_row_count == 8
    assert CardTransaction.objects.filter(session=session).count() == 8
    proof = session_proof(session)
    assert str(proof.statement_total) == "1659.75"
    assert proof.balanced


def test_its_results_equal_a_session_created_with_the_new_statement(
    make_session: Any, replace: Any
) -> None:
    replaced = make_session(name="Replaced")
    replace(replaced)
    direct = make_session(card=CORRECTED, name="Direct")

    rows = visible_rows(replaced)
    # Only the employee who has neither card lines nor receipts any more stays behind,
    # emptied: the direct session never knew them.
    gone = rows.pop("E1006")
    assert rows == visible_rows(direct)
    assert gone[1:] == (0, 0, 0, "no_card_activity", False)
    assert session_proof(replaced).statement_total == session_proof(direct).statement_total


def test_an_employee_gone_from_the_statement_keeps_a_trace_of_what_they_had(
    make_session: Any, replace: Any
) -> None:
    session = make_session()

    job = replace(session)

    gone = EmployeeRevision.objects.get(session=session, employee_id="E1006")
    assert (str(gone.previous_car_amount), gone.amount_changed) == ("999.99", True)
    assert gone.has_card_lines is False
    assert job.diff["counts"]["removed"] == 1
    assert job.diff["counts"]["new"] == 1  # E1009
    changes = {row["employee_id"]: row["change"] for row in job.diff["employees"]}
    assert changes["E1006"] == "removed" and changes["E1009"] == "new"


def test_a_resolution_made_on_the_old_amounts_is_cleared(
    make_session: Any, replace: Any, operator: Any
) -> None:
    session = make_session()
    e1003 = EmployeeRevision.objects.get(session=session, employee_id="E1003")
    revision_resolve(
        revision=e1003, note="receipt lost, approved", expected_version=1, actor=operator
    )

    replace(session)

    e1003.refresh_from_db()
    assert e1003.status == "matched"  # by the new amounts, not by the old resolution
    assert e1003.resolution_note == ""


def test_it_keeps_the_old_file_and_stores_the_new_one(make_session: Any, replace: Any) -> None:
    session = make_session()
    old_path = session.card_file.name

    replace(session)

    assert session.card_file.name != old_path
    assert default_storage.exists(old_path)
    with default_storage.open(session.card_file.name, "rb") as stored:
        assert stored.read() == fixture_file(CORRECTED).read()


def test_the_history_row_carries_the_actor_and_the_reason(
    make_session: Any, replace: Any, operator: Any
) -> None:
    session = make_session()

    replace(session)

    row = session.history.filter(history_change_reason="card statement replaced").get()
    assert row.history_user == operator
    assert (row.card_file_name, row.card_row_count) == (CORRECTED, 8)
    before = row.prev_record
    assert (before.card_file_name, before.card_row_count) == ("car_2026_10.csv", 12)


def test_it_records_an_activity_event(make_session: Any, replace: Any, operator: Any) -> None:
    session = make_session()
    old_sha256 = session.card_sha256

    job = replace(session, note="bank re-issued the statement")

    event = ActivityEvent.objects.get(session=session, verb=ActivityEvent.Verb.CARD_REPLACED)
    assert event.actor == operator
    assert "car_2026_10.csv (12 lines) → car_2026_10_corrected.csv (8 lines)" in event.message
    assert "bank re-issued the statement" in event.message
    assert event.details["old_file"] == "car_2026_10.csv"
    assert event.details["old_sha256"] == old_sha256
    assert event.details["old_lines"] == 12
    assert event.details["new_file"] == CORRECTED
    assert event.details["new_sha256"] == session.card_sha256 != old_sha256
    assert event.details["new_lines"] == 8
    assert event.details["note"] == "bank re-issued the statement"
    assert event.details["job"] == job.pk


def test_it_reads_the_file_through_an_import_profile(
    make_session: Any, replace: Any, operator: Any
) -> None:
    session = make_session()
    profile = import_profile_save(
        engagement=session.engagement,
        data={"name": "Bank (semicolons)", "delimiter": ";"},
        actor=operator,
    )
    text = fixture_file(CORRECTED).read().decode("utf-8-sig")
    semicolons = text.replace('"$1,250.00"', "$1250.00").replace('"$1,659.75"', "$1659.75")
    semicolons = semicolons.replace('"Zhang, Alice"', "Alice Zhang").replace(",", ";")
    upload = SimpleUploadedFile("car_semicolons.csv", semicolons.encode())

    with_profile = session_card_replace(
        session=session, file=upload, profile=profile, actor=operator
    )

    session.refresh_from_db()
    assert with_profile.kind == RecalcJob.Kind.CARD
    assert session.card_profile == profile
    assert session.card_row_count == 8


# --- When it is refused -------------------------------------------------------------------------


def test_it_is_refused_after_a_pvault_export(
    make_session: Any, operator: Any, untouched: Any
) -> None:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    before = untouched(session)

    with pytest.raises(CardReplaceNotAllowed) as refused:
        session_card_replace(session=session, file=fixture_file(CORRECTED), actor=operator)

    assert refused.value.code == "card_replace_not_allowed"
    assert batch.batch_code in refused.value.message
    assert "Open a new session" in refused.value.message
    assert untouched(session) == before


def test_it_is_refused_after_a_pvault_export_that_was_voided(
    make_session: Any, operator: Any, untouched: Any
) -> None:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    export_batch_void(batch=batch, reason="sent too early", actor=operator)
    before = untouched(session)

    with pytest.raises(CardReplaceNotAllowed) as refused:
        session_card_replace(session=session, file=fixture_file(CORRECTED), actor=operator)

    assert "(since voided)" in refused.value.message
    assert refused.value.details["void"] is True
    assert untouched(session) == before


def test_it_is_allowed_after_an_exceptions_export_only(
    make_session: Any, operator: Any, replace: Any
) -> None:
    session = make_session()
    export_batch_create(session=session, export_type="exceptions", actor=operator)
    assert card_replace_refusal(session) is None

    job = replace(session)

    assert job.status == RecalcJob.Status.COMPLETED
    assert results(session) == AFTER_CORRECTION


def test_it_is_refused_for_a_closed_session(
    make_session: Any, operator: Any, untouched: Any
) -> None:
    session = make_session()
    session_close(session=session, reason="period closed", actor=operator)
    before = untouched(session)

    with pytest.raises(SessionClosed, match="was closed on"):
        session_card_replace(session=session, file=fixture_file(CORRECTED), actor=operator)

    assert untouched(session) == before


def test_it_is_refused_while_a_job_is_active_and_writes_nothing(
    make_session: Any, operator: Any, untouched: Any
) -> None:
    session = make_session()
    queued = session_recalculate(session=session, actor=operator)  # never handed to a worker
    before = untouched(session)

    with pytest.raises(JobActive) as refused:
        session_card_replace(session=session, file=fixture_file(CORRECTED), actor=operator)

    assert refused.value.details["job"] == queued.pk
    assert untouched(session) == before
    assert not RecalcJob.objects.filter(session=session, kind=RecalcJob.Kind.CARD).exists()


def test_a_bad_file_is_refused_with_its_row_errors_and_writes_nothing(
    make_session: Any, operator: Any, untouched: Any
) -> None:
    session = make_session()
    before = untouched(session)
    bad = SimpleUploadedFile(
        "car_bad.csv",
        b"Employee ID,Cardholder Name,Amount\nE1001,Alice,12.3.4\nE1002,Bob,ten dollars\n",
    )

    with pytest.raises(InvalidFile) as refused:
        session_card_replace(session=session, file=bad, actor=operator)

    assert refused.value.error_count == 2
    assert [row["line"] for row in refused.value.details] == [2, 3]
    assert refused.value.message.startswith("The card statement has 2 errors")
    assert untouched(session) == before


def test_the_same_file_again_is_refused_unless_forced(
    make_session: Any, operator: Any, replace: Any, untouched: Any
) -> None:
    session = make_session()
    before = untouched(session)

    with pytest.raises(DuplicateFile) as refused:
        session_card_replace(session=session, file=fixture_file("car_2026_10.csv"), actor=operator)
    assert "identical to the current card statement 'car_2026_10.csv'" in refused.value.message
    assert untouched(session) == before

    job = replace(session, "car_2026_10.csv", force=True)

    assert job.status == RecalcJob.Status.COMPLETED
    assert session.card_row_count == 12
    event = ActivityEvent.objects.get(session=session, verb=ActivityEvent.Verb.CARD_REPLACED)
    assert event.details["forced"] is True


def test_a_profile_of_another_engagement_is_refused(make_session: Any, operator: Any) -> None:
    session = make_session()
    other = import_profile_save(
        engagement=EngagementFactory(name="Other Co", slug="other-co"),
        data={"name": "Their bank"},
        actor=operator,
    )

    with pytest.raises(ValidationFailed, match="belongs to another engagement"):
        session_card_replace(
            session=session, file=fixture_file(CORRECTED), profile=other, actor=operator
        )


# --- Racing an export (PostgreSQL: row locks, separate connections) -----------------------------


def _queued_in_order(
    session: ProcessingSession, first: Callable[[], Any], second: Callable[[], Any]
) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """Run `first` and `second` on their own connections, `first` certain to get the session
    lock before `second`: the test holds the lock until both are queued on it."""
    contenders = Contender(first), Contender(second)
    with transaction.atomic():
        ProcessingSession.objects.select_for_update().get(pk=session.pk)
        contenders[0].start_and_wait_until_queued("the first request")
        contenders[1].start_and_wait_until_queued("the second request")
    return contenders[0].result(), contenders[1].result()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgres_only")
@pytest.mark.parametrize("head_start", ["replace", "export"])
def test_a_statement_racing_a_pvault_export_is_refused_or_exported_after_it(
    make_session: Any, operator: Any, request: pytest.FixtureRequest, head_start: str
) -> None:
    """Both requests pass their checks before either holds the session lock; the one that
    gets it second must see what the first did. From the race on, jobs wait on the broker,
    so a replacement's recalculation is still pending when the export behind it runs."""
    session = make_session()
    request.getfixturevalue("through_the_broker")
    old_lines = CardTransaction.objects.filter(session=session).count()

    def replace() -> Any:
        return session_card_replace(session=session, file=fixture_file(CORRECTED), actor=operator)

    def export() -> Any:
        return export_batch_create(session=session, export_type="pvault", actor=operator)[0]

    if head_start == "export":
        (exported, batch), (replaced, refusal) = _queued_in_order(session, export, replace)

        session.refresh_from_db()
        assert exported == "ok" and batch.batch_code == "PV-2026-10-001"
        assert replaced == "error" and isinstance(refusal, CardReplaceNotAllowed), refusal
        assert refusal.details["batch_code"] == "PV-2026-10-001"
        assert session.card_file_name == "car_2026_10.csv"
        assert CardTransaction.objects.filter(session=session).count() == old_lines
        assert not RecalcJob.objects.filter(session=session, kind=RecalcJob.Kind.CARD).exists()
        return

    (replaced, job), (exported, refusal) = _queued_in_order(session, replace, export)

    session.refresh_from_db()
    assert replaced == "ok" and session.card_file_name == CORRECTED
    assert exported == "error" and isinstance(refusal, JobActive), refusal
    assert refusal.details["job"] == job.pk
    assert not ExportBatch.objects.filter(session=session).exists()
    # Once the new statement's recalculation has run, the export goes through, after it.
    recalc_job_run(job_id=job.pk)
    job.refresh_from_db()
    batch = export()
    event = ActivityEvent.objects.get(session=session, verb=ActivityEvent.Verb.CARD_REPLACED)
    assert job.status == RecalcJob.Status.COMPLETED
    assert batch.created_at > job.finished_at > event.occurred_at
    assert results(session) == AFTER_CORRECTION
