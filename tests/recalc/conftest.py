from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recalc import services as recalc_services
from sessions_app.models import EmployeeRevision, ProcessingSession
from sessions_app.services import session_create

CARD_HEADER = "Employee ID,Cardholder Name,Transaction Date,Merchant,Amount"
RECEIPTS_HEADER = "Employee Number,Employee Name,Receipt Date,Receipt ID,Amount"


def csv_file(name: str, header: str, rows: Iterable[str]) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("\n".join([header, *rows]) + "\n").encode())


def card_csv(amounts: dict[str, str]) -> SimpleUploadedFile:
    """One card line per employee: {employee id: amount}."""
    return csv_file(
        "card.csv",
        CARD_HEADER,
        (f"{emp},Name {emp},2026-10-02,SHOP,{amount}" for emp, amount in amounts.items()),
    )


def receipts_csv(amounts: dict[str, str], name: str = "receipts.csv") -> SimpleUploadedFile:
    return csv_file(
        name,
        RECEIPTS_HEADER,
        (f"{emp},Name {emp},2026-10-02,R-{emp},{amount}" for emp, amount in amounts.items()),
    )


def generated_amounts(employees: int, *, cents_offset: int = 0, every: int = 1) -> dict[str, str]:
    """Deterministic amounts for E00000…; `cents_offset` is added to every `every`-th one."""
    amounts = {}
    for number in range(employees):
        cents = 1000 + number % 9000 + (cents_offset if number % every == 0 else 0)
        amounts[f"E{number:05d}"] = f"{Decimal(cents).scaleb(-2):.2f}"
    return amounts


@pytest.fixture
def generated_session(
    engagement: Any, operator: Any, django_capture_on_commit_callbacks: Any
) -> Callable[..., ProcessingSession]:
    """A session of `employees` employees (one card and one matching receipt line each),
    processed the way the app does it."""

    def build(employees: int, *, name: str = "Generated", run: bool = True) -> ProcessingSession:
        amounts = generated_amounts(employees)
        with django_capture_on_commit_callbacks(execute=run):
            session = session_create(
                engagement=engagement,
                name=name,
                period_start=datetime.date(2026, 10, 1),
                period_end=datetime.date(2026, 10, 31),
                tolerance=Decimal("1.00"),
                card_file=card_csv(amounts),
                receipts_file=receipts_csv(amounts),
                actor=operator,
            )
        session.refresh_from_db()
        return session

    return build


@pytest.fixture
def hold_jobs(monkeypatch: Any) -> Callable[[], list[int]]:
    """From the call on, jobs are created but not handed to a worker: the test runs them."""

    def hold() -> list[int]:
        dispatched: list[int] = []
        monkeypatch.setattr(
            recalc_services, "recalc_job_dispatch", lambda *, job_id: dispatched.append(job_id)
        )
        return dispatched

    return hold


def revision_rows(session: ProcessingSession) -> list[tuple[Any, ...]]:
    """Every field of the session's revisions a user could see, ids and times left out."""
    skipped = {"id", "session", "updated_at", "resolved_at", "exported_at"}
    names = [f.attname for f in EmployeeRevision._meta.concrete_fields if f.name not in skipped]
    return list(
        EmployeeRevision.objects.filter(session=session).order_by("employee_id").values_list(*names)
    )


def history_rows(session: ProcessingSession) -> list[tuple[Any, ...]]:
    """The session's revision history, row for row, ids and timestamps left out."""
    history = EmployeeRevision.history.model
    skipped = {"id", "history_id", "session", "history_date", "resolved_at", "exported_at"}
    names = [f.attname for f in history._meta.concrete_fields if f.name not in skipped]
    return list(
        history.objects.filter(session_id=session.pk)
        .order_by("employee_id", "history_id")
        .values_list(*names)
    )
