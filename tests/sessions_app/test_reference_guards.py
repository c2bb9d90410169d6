"""Statement lines, revisions and revision history keep pointing at real rows: the set-based
guards (sessions_app/reference_guards.py) that replace their per-row foreign keys refuse
what a foreign key would."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction

from core.bulk import lines_insert
from sessions_app.models import (
    CardTransaction,
    EmployeeRevision,
    ProcessingSession,
    ReceiptLine,
    ReceiptVersion,
)
from tests.factories import ProcessingSessionFactory, UserFactory

pytestmark = pytest.mark.django_db


def card_line(session_id: int, number: int = 1) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "line_number": number,
        "employee_id": f"E{number}",
        "employee_name": "Ann",
        "amount": Decimal("10.00"),
        "transaction_date": datetime.date(2026, 10, 1),
        "merchant": "",
    }


def receipt_line(session_id: int, version_id: int, number: int = 1) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "receipt_version_id": version_id,
        "line_number": number,
        "employee_id": f"E{number}",
        "employee_name": "Ann",
        "amount": Decimal("10.00"),
        "receipt_date": None,
        "receipt_id": "",
        "merchant": "",
    }


@pytest.fixture
def session() -> ProcessingSession:
    return ProcessingSessionFactory()


@pytest.fixture
def version(session: ProcessingSession) -> ReceiptVersion:
    return ReceiptVersion.objects.create(session=session, version=1, sha256="0" * 64)


def test_lines_of_an_existing_session_and_version_are_stored(session, version):
    stored = (
        lines_insert(CardTransaction, [card_line(session.pk, n) for n in range(3)]),
        lines_insert(ReceiptLine, [receipt_line(session.pk, version.pk, n) for n in range(2)]),
    )

    assert stored == (3, 2)
    assert session.card_transactions.count() == 3
    assert version.lines.count() == 2


def test_a_card_line_of_a_missing_session_is_refused_and_nothing_is_stored(session):
    lines = [card_line(session.pk, 1), card_line(session.pk + 1000, 2)]

    with pytest.raises(IntegrityError, match="card line refers to a session"), transaction.atomic():
        lines_insert(CardTransaction, lines)

    assert not CardTransaction.objects.exists()


def test_a_receipt_line_of_another_sessions_version_is_refused(session, version):
    other = ProcessingSessionFactory(engagement=session.engagement)

    with (
        pytest.raises(IntegrityError, match="receipts version that does not exist"),
        transaction.atomic(),
    ):
        lines_insert(ReceiptLine, [receipt_line(other.pk, version.pk)])

    assert not ReceiptLine.objects.exists()


def test_a_receipt_line_of_a_missing_version_is_refused(session, version):
    with (
        pytest.raises(IntegrityError, match="receipts version that does not exist"),
        transaction.atomic(),
    ):
        ReceiptLine.objects.create(**receipt_line(session.pk, version.pk + 1000))


def test_moving_a_line_to_a_missing_session_is_refused(session):
    lines_insert(CardTransaction, [card_line(session.pk)])

    with pytest.raises(IntegrityError, match="card line refers to a session"), transaction.atomic():
        CardTransaction.objects.update(session_id=session.pk + 1000)

    assert CardTransaction.objects.get().session_id == session.pk


def test_a_revision_of_a_missing_session_is_refused(session):
    with (
        pytest.raises(IntegrityError, match="revision refers to a session"),
        transaction.atomic(),
    ):
        EmployeeRevision.objects.create(
            session_id=session.pk + 1000, employee_id="E1", status="matched"
        )

    assert not EmployeeRevision.objects.exists()


def test_revision_history_keeps_its_user_or_none(session):
    user = UserFactory()
    revision = EmployeeRevision(session=session, employee_id="E1", status="matched")
    revision._history_user = user
    revision.save()
    history = revision.history.get()
    assert history.history_user == user

    with (
        pytest.raises(IntegrityError, match="history row refers to a user"),
        transaction.atomic(),
    ):
        type(history).objects.filter(pk=history.pk).update(history_user_id=user.pk + 1000)

    type(history).objects.filter(pk=history.pk).update(history_user_id=None)  # no user: fine
    user.delete()  # a user's history rows lose their user, as with the foreign key
    assert EmployeeRevision.history.get().history_user_id is None


@pytest.mark.usefixtures("postgres_only")
def test_a_session_with_lines_cannot_be_deleted_under_them(session):
    lines_insert(CardTransaction, [card_line(session.pk)])

    with (
        pytest.raises(IntegrityError, match="still refer to the"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM sessions_app_processingsession WHERE id = %s", [session.pk])

    assert ProcessingSession.objects.filter(pk=session.pk).exists()


@pytest.mark.usefixtures("postgres_only")
def test_a_version_with_lines_cannot_be_deleted_under_them(session, version):
    lines_insert(ReceiptLine, [receipt_line(session.pk, version.pk)])

    with (
        pytest.raises(IntegrityError, match="still refer to the"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM sessions_app_receiptversion WHERE id = %s", [version.pk])

    assert ReceiptVersion.objects.filter(pk=version.pk).exists()


@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
@pytest.mark.django_db(transaction=True)
def test_a_session_deleted_while_lines_are_written_for_it_leaves_no_orphans():
    """The guard locks the parent as a foreign key check would: the delete waits for the
    lines' transaction, then finds them and fails."""
    session = ProcessingSessionFactory()
    written = threading.Event()
    outcome: dict[str, Any] = {}

    def delete_session() -> None:
        written.wait(5)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM sessions_app_processingsession WHERE id = %s", [session.pk]
                )
        except IntegrityError as error:
            outcome["error"] = error
        finally:
            connections.close_all()

    deleter = threading.Thread(target=delete_session)
    deleter.start()
    with transaction.atomic():
        lines_insert(CardTransaction, [card_line(session.pk)])
        written.set()
        deleter.join(0.5)  # the delete is blocked by the lock the guard took
        assert deleter.is_alive()
    deleter.join(10)

    assert "still refer to the" in str(outcome.get("error"))
    assert CardTransaction.objects.filter(session_id=session.pk).count() == 1


@pytest.mark.usefixtures("postgres_only")
def test_a_session_with_revisions_cannot_be_deleted_under_them(session):
    EmployeeRevision.objects.create(session=session, employee_id="E1", status="matched")

    with (
        pytest.raises(IntegrityError, match="still refer to the"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM sessions_app_processingsession WHERE id = %s", [session.pk])
