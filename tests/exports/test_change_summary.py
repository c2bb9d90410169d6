"""The change summary a session page shows is one stored row, kept by database triggers on
the revisions table (exports/summary_triggers.py). Whatever writes revisions — services,
set-based SQL, bulk inserts, single saves, deletes, a transaction rolled back — the row
stays equal to the one-query definition `change_summary_computed`."""

from __future__ import annotations

from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports import summary_triggers
from exports.models import SessionChangeSummary
from exports.selectors import change_summary, change_summary_computed
from exports.services import export_batch_create, export_batch_void
from sessions_app.models import EmployeeRevision, ProcessingSession
from tests.exports.test_selectors import revision_rows
from tests.factories import EmployeeRevisionFactory, ProcessingSessionFactory

pytestmark = pytest.mark.django_db


def assert_summary_exact(*sessions: ProcessingSession) -> None:
    for session in sessions:
        assert change_summary(session) == change_summary_computed(session), session.pk


def test_it_has_its_triggers_installed():
    """A migration that rebuilds the revisions table on SQLite drops its triggers: it must
    call exports.summary_triggers.install again."""
    names = {f"exports_change_summary_{event}" for event in ("insert", "update", "delete")}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass",
                [summary_triggers.REVISIONS],
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [summary_triggers.REVISIONS],
            )
        installed = {row[0] for row in cursor.fetchall()}

    assert names <= installed


def test_it_classifies_with_the_models_export_ready_statuses():
    assert set(summary_triggers.READY) == set(EmployeeRevision.EXPORT_READY)
    assert summary_triggers.KINDS == ("new", "changed", "unchanged", "not_ready")


def test_it_counts_and_totals_each_kind_of_a_fresh_and_an_exported_session(make_session, operator):
    session = make_session()
    before = change_summary(session)

    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    after = change_summary(session)

    assert before["new"] == batch.employee_count and before["unchanged"] == 0
    assert before["amounts"]["new"] == batch.total_amount
    assert after["new"] == 0 and after["unchanged"] == batch.employee_count
    assert after["amounts"]["unchanged"] == batch.total_amount
    assert after["total"] == before["total"] and after["not_ready"] == before["not_ready"]
    assert_summary_exact(session)


def test_it_follows_a_void_back_to_what_it_was(make_session, operator):
    session = make_session()
    before = change_summary(session)
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    export_batch_void(batch=batch, reason="loaded into the wrong company", actor=operator)

    assert change_summary(session) == before
    assert_summary_exact(session)


def test_it_is_zero_for_a_session_without_revisions_and_goes_with_its_session(db):
    session = ProcessingSessionFactory()
    assert change_summary(session) == change_summary_computed(session)
    assert change_summary(session)["total"] == 0
    revision = EmployeeRevisionFactory(session=session)
    revision.delete()
    assert SessionChangeSummary.objects.filter(session=session).exists()

    session.delete()

    assert not SessionChangeSummary.objects.filter(session_id=session.pk).exists()


def test_it_is_rebuilt_from_scratch_to_the_same_rows(db):
    sessions = [ProcessingSessionFactory(), ProcessingSessionFactory()]
    EmployeeRevisionFactory.create_batch(3, session=sessions[0])
    EmployeeRevisionFactory.create_batch(
        2, session=sessions[1], exported_car_amount=Decimal("1.50"), exported_receipt_amount=0
    )
    EmployeeRevisionFactory(session=sessions[1], status="missing_receipts")
    kept = list(SessionChangeSummary.objects.order_by("pk").values())

    with connection.cursor() as cursor:
        for statement in summary_triggers.rebuild_sql():
            cursor.execute(statement)

    assert list(SessionChangeSummary.objects.order_by("pk").values()) == kept
    assert_summary_exact(*sessions)


# --- Any write, any order ------------------------------------------------------------------


writes = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(0, 1), st.lists(revision_rows(), max_size=6)),
        st.tuples(st.just("update"), st.integers(0, 7), revision_rows()),
        st.tuples(st.just("save"), st.integers(0, 7), revision_rows()),
        st.tuples(st.just("delete"), st.integers(0, 7), st.none()),
        st.tuples(st.just("move"), st.integers(0, 7), st.none()),
        st.tuples(st.just("refused"), st.integers(0, 7), revision_rows()),
    ),
    max_size=12,
)


EMPLOYEE_NUMBERS = count()


class Rollback(Exception):
    """Ends a hypothesis example, undoing everything it wrote."""


class Refused(Exception):
    """A write whose transaction fails after it changed revisions."""


def _write(sessions: list[ProcessingSession], operation: str, target: int, values: Any) -> None:
    revisions = list(EmployeeRevision.objects.filter(session__in=sessions).order_by("pk"))
    if operation == "insert":
        EmployeeRevision.objects.bulk_create(
            EmployeeRevision(
                session=sessions[target], employee_id=f"E{next(EMPLOYEE_NUMBERS)}", **row
            )
            for row in values
        )
        return
    if not revisions:
        return
    chosen = revisions[target % len(revisions)]
    if operation == "update":  # set-based, as the recalculation and the exports write
        EmployeeRevision.objects.filter(pk__gte=chosen.pk).update(**values)
    elif operation == "save":
        for name, value in values.items():
            setattr(chosen, name, value)
        chosen.save()
    elif operation == "delete":
        chosen.delete()
    elif operation == "move":
        other = sessions[1] if chosen.session_id == sessions[0].pk else sessions[0]
        EmployeeRevision.objects.filter(pk=chosen.pk).update(
            session=other, employee_id=f"M{chosen.pk}"
        )
    elif operation == "refused":
        try:
            with transaction.atomic():
                EmployeeRevision.objects.filter(pk__lte=chosen.pk).update(**values)
                raise Refused
        except Refused:
            pass


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=writes)
def test_it_equals_the_one_query_definition_after_any_sequence_of_writes(operations, db):
    try:
        with transaction.atomic():
            sessions = [ProcessingSessionFactory(), ProcessingSessionFactory()]
            for operation, target, values in operations:
                _write(sessions, operation, target, values)
                assert_summary_exact(*sessions)
            raise Rollback
    except Rollback:
        pass
