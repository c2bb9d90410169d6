"""The session proof balances to the cent after every step of long random sequences of
real operations: generated receipts uploads (replace and append), recalculations,
tolerance changes, rollbacks, exports delta/all, marking, voids and resolutions."""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.errors import DomainError
from exports.models import ExportBatch
from exports.selectors import (
    change_summary,
    change_summary_computed,
    export_candidates,
    proof_offenders,
    session_proof,
)
from exports.services import (
    export_batch_create,
    export_batch_mark_exported,
    export_batch_rebuild,
    export_batch_void,
)
from recalc.services import session_recalculate
from sessions_app.models import EmployeeRevision, ProcessingSession
from sessions_app.services import (
    receipt_version_reapply,
    receipt_version_upload,
    revision_resolve,
    session_create,
    session_update,
)

pytestmark = pytest.mark.django_db
STEPS = 36
NAMES = ["Zhang, Alice", "O'Brien, Ellen", "=SUM(A1)", "Müller, Zoë", '"Boss" Lee', "Kim"]


class Story:
    """One session and a random but reproducible operator."""

    def __init__(self, rng: random.Random, operator: Any, engagement: Any, run: Callable) -> None:
        self.rng, self.operator, self.run = rng, operator, run
        self.employees = [f"E{n:03d}" for n in range(1, rng.randint(6, 14))]
        self.card = {emp: self._card_lines() for emp in self.employees}
        self.receipt_counter = 0
        self.session = run(
            lambda: session_create(
                engagement=engagement,
                name="Random story",
                period_start=datetime.date(2026, 11, 1),
                period_end=datetime.date(2026, 11, 30),
                tolerance=Decimal("0.50"),
                card_file=SimpleUploadedFile("car.csv", self._card_csv()),
                receipts_file=SimpleUploadedFile("r1.csv", self._receipts_csv(full=True)),
                actor=operator,
            )
        )

    def _card_lines(self) -> list[Decimal]:
        lines = [
            Decimal(self.rng.randint(100, 200_000)) / 100 for _ in range(self.rng.randint(1, 3))
        ]
        if self.rng.random() < 0.2:
            lines.append(-Decimal(self.rng.randint(100, 5_000)) / 100)  # a refund
        return lines

    def _card_csv(self) -> bytes:
        rows = ["Employee ID,Cardholder Name,Posting Date,Merchant,Billing Amount"]
        for index, emp in enumerate(self.employees):
            name = NAMES[index % len(NAMES)].replace('"', '""')
            rows += [
                f'{emp},"{name}",2026-11-0{1 + i % 9},SHOP,{a}'
                for i, a in enumerate(self.card[emp])
            ]
        return ("\r\n".join(rows) + "\r\n").encode()

    def _receipt_amount(self, emp: str) -> Decimal:
        total = sum(self.card.get(emp, [Decimal("10.00")]), Decimal("0.00"))
        roll = self.rng.random()
        if roll < 0.55:
            return total  # matched
        if roll < 0.7:
            return total - Decimal(self.rng.randint(1, 30))  # the cents stay: short or not
        if roll < 0.85:
            return total + Decimal(self.rng.randint(1, 900)) / 100
        return Decimal("0.00")

    def _receipts_csv(self, *, full: bool) -> bytes:
        rows = ["Employee Number,Employee Name,Receipt Date,Receipt ID,Amount"]
        chosen = self.employees if full else self.rng.sample(self.employees, 2)
        if self.rng.random() < 0.3:
            chosen = [*chosen, f"X{self.rng.randint(1, 3)}"]  # receipts without card activity
        for emp in chosen:
            amount = self._receipt_amount(emp) if full else Decimal(self.rng.randint(1, 500)) / 100
            if amount:
                self.receipt_counter += 1
                rows.append(f"{emp},Someone,2026-11-15,R{self.receipt_counter},{amount}")
        return ("\r\n".join(rows) + "\r\n").encode()

    # --- operations: each may be refused with a DomainError, never unbalance the proof ---

    def upload_replace(self) -> None:
        data = self._receipts_csv(full=True)
        self.run(
            lambda: receipt_version_upload(
                session=self.session,
                file=SimpleUploadedFile("r.csv", data),
                force=True,
                actor=self.operator,
            )
        )

    def upload_append(self) -> None:
        data = self._receipts_csv(full=False)
        self.run(
            lambda: receipt_version_upload(
                session=self.session,
                file=SimpleUploadedFile("a.csv", data),
                mode="append",
                force=True,
                actor=self.operator,
            )
        )

    def recalculate(self) -> None:
        self.run(lambda: session_recalculate(session=self.session, actor=self.operator))

    def tolerance(self) -> None:
        value = self.rng.choice(["0.00", "0.50", "5.00", "30.00"])
        self.run(lambda: session_update(session=self.session, tolerance=value, actor=self.operator))

    def rollback(self) -> None:
        self.run(
            lambda: receipt_version_reapply(
                session=self.session, version_number=1, actor=self.operator
            )
        )

    def export(self) -> None:
        export_type = self.rng.choice(["pvault", "pvault", "pvault", "exceptions"])
        delta_only = self.rng.random() < 0.75
        export_batch_create(
            session=self.session,
            export_type=export_type,
            delta_only=delta_only,
            mark_as_exported=self.rng.random() < 0.75,
            confirm=True,
            reason="" if delta_only else "resend for pVault reload",
            actor=self.operator,
        )

    def mark(self) -> None:
        batch = self._some_batch()
        employee_ids = None
        if batch is not None and self.rng.random() < 0.5:
            ids = list(
                batch.lines.filter(marked_at__isnull=True).values_list("employee_id", flat=True)
            )
            employee_ids = self.rng.sample(ids, min(len(ids), 1))
        if batch is not None:
            export_batch_mark_exported(batch=batch, employee_ids=employee_ids, actor=self.operator)

    def void(self) -> None:
        batch = self._some_batch()
        if batch is not None:
            export_batch_void(batch=batch, reason="random void", actor=self.operator)

    def resolve(self) -> None:
        exceptions = list(
            EmployeeRevision.objects.filter(session=self.session).exclude(
                status__in=EmployeeRevision.EXPORT_READY
            )
        )
        if exceptions:
            rev = self.rng.choice(exceptions)
            revision_resolve(
                revision=rev, note="accepted", expected_version=rev.version, actor=self.operator
            )

    def _some_batch(self) -> ExportBatch | None:
        batches = list(
            ExportBatch.objects.filter(session=self.session, export_type="pvault", status="active")
        )
        return self.rng.choice(batches) if batches else None


OPERATIONS = [
    ("upload_replace", 3),
    ("upload_append", 2),
    ("recalculate", 1),
    ("tolerance", 1),
    ("rollback", 1),
    ("export", 6),
    ("mark", 3),
    ("void", 2),
    ("resolve", 3),
]


def assert_proven(session: ProcessingSession, step: str) -> None:
    proof = session_proof(session)
    assert proof.balanced, (step, proof)
    assert proof_offenders(session) == [], step
    summary = change_summary(session)
    assert summary == change_summary_computed(session), step  # the stored row is exact
    delta = export_candidates(session, export_type="pvault")
    assert delta.count() == summary["new"] + summary["changed"], step
    pending = sum((rev.car_amount - (rev.exported_car_amount or 0) for rev in delta), Decimal(0))
    assert pending == proof.pending, step  # unchanged employees owe nothing


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_it_balances_after_every_step_of_a_random_story(
    seed, operator, engagement, django_capture_on_commit_callbacks
):
    rng = random.Random(seed)

    def run(operation: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return operation()

    story = Story(rng, operator, engagement, run)
    assert_proven(story.session, "created")
    names, weights = zip(*OPERATIONS, strict=True)
    done: list[str] = []
    for step in range(STEPS):
        name = rng.choices(names, weights)[0]
        try:
            getattr(story, name)()
            done.append(name)
        except DomainError:
            done.append(f"{name} (refused)")
        story.session.refresh_from_db()
        assert_proven(story.session, f"step {step}: {name}")

    assert any(op == "export" for op in done) and any(op == "upload_replace" for op in done)
    for batch in ExportBatch.objects.filter(session=story.session):
        assert export_batch_rebuild(batch=batch) == batch.file.open("rb").read()
