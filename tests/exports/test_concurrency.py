"""Real concurrency on PostgreSQL: separate connections racing for the same session."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from core.errors import NothingToExport
from core.faults import injected_fault
from exports.models import ExportBatch, ExportLine
from exports.selectors import change_summary
from exports.services import export_batch_create
from sessions_app.models import EmployeeRevision
from tests.concurrency import at_once
from tests.factories import EngagementFactory, ProcessingSessionFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgres_only"),
]
READY = 150


@pytest.fixture
def slow_writer() -> Iterator[None]:
    """Widen the race window: each file takes 0.3 s longer to write, inside the transaction."""

    def slow(data: bytes) -> bytes:
        time.sleep(0.3)
        return data

    with injected_fault("exports.file_written", slow):
        yield


def ready_session(engagement: Any = None) -> Any:
    session = ProcessingSessionFactory(**({"engagement": engagement} if engagement else {}))
    EmployeeRevision.objects.bulk_create(
        EmployeeRevision(
            session=session,
            employee_id=f"E{n:04d}",
            employee_name=f"Employee {n}",
            car_amount=Decimal("10.00"),
            receipt_amount=Decimal("10.00"),
            status="matched",
        )
        for n in range(READY)
    )
    return session


def test_it_never_puts_an_employee_in_two_concurrent_delta_exports(operator, slow_writer):
    session = ready_session()

    def export() -> Any:
        return export_batch_create(session=session, export_type="pvault", actor=operator)

    results = at_once(export, export)

    outcomes = sorted(kind for kind, _ in results)
    errors = [value for kind, value in results if kind == "error"]
    assert all(isinstance(error, NothingToExport) for error in errors), errors
    assert outcomes in (["error", "ok"], ["ok", "ok"])
    exported = Counter(
        ExportLine.objects.filter(batch__session=session).values_list("employee_id", flat=True)
    )
    assert len(exported) == READY and set(exported.values()) == {1}
    assert change_summary(session)["unchanged"] == READY


def test_it_makes_one_batch_for_one_idempotency_key_sent_twice_at_once(operator, slow_writer):
    session = ready_session()

    def export() -> Any:
        return export_batch_create(
            session=session, export_type="pvault", actor=operator, idempotency_key="retry-7"
        )

    results = at_once(export, export)

    assert [kind for kind, _ in results] == ["ok", "ok"], results
    (first, first_created), (second, second_created) = (value for _, value in results)
    assert first.pk == second.pk
    assert sorted([first_created, second_created]) == [False, True]
    assert ExportBatch.objects.filter(session=session).count() == 1
    assert ExportLine.objects.filter(batch=first).count() == READY


def test_it_gives_distinct_codes_to_sessions_of_one_period_exporting_at_once(operator, slow_writer):
    engagement = EngagementFactory(name="Acme", slug="acme")
    first_card = ready_session(engagement)
    second_card = ready_session(engagement)
    globex = ready_session(EngagementFactory(name="Globex", slug="globex"))

    results = at_once(
        lambda: export_batch_create(session=first_card, export_type="pvault", actor=operator),
        lambda: export_batch_create(session=second_card, export_type="pvault", actor=operator),
        lambda: export_batch_create(session=globex, export_type="pvault", actor=operator),
    )

    assert [kind for kind, _ in results] == ["ok", "ok", "ok"], results
    batches = [batch for batch, _ in (value for _, value in results)]
    # Counted per engagement (SPEC §6): Acme's two are 001 and 002, Globex has its own 001.
    assert sorted(batch.batch_code for batch in batches[:2]) == ["PV-2026-10-001", "PV-2026-10-002"]
    assert batches[2].batch_code == "PV-2026-10-001"
    names = sorted(ExportBatch.objects.values_list("file", flat=True))
    assert names == [
        f"exports/{batch.session.engagement_id}/{batch.session_id}/{batch.batch_code}.csv"
        for batch in ExportBatch.objects.order_by("file")
    ]
