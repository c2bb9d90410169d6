"""Set-based recalculation of a session: aggregate per employee in the database, classify
with the same rules the `reconcile` command uses, write revisions and their history in bulk.

The number of queries does not depend on the number of employees (beyond fixed-size
batches), so a 100k-employee session is a handful of statements."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Max, Sum
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from sessions_app.models import (
    ZERO,
    CardTransaction,
    EmployeeRevision,
    ProcessingSession,
    ReceiptVersion,
)
from sessions_app.reconciliation import EmployeeResult, classify
from sessions_app.selectors import receipt_lines_in_effect

WRITE_BATCH_SIZE = 2000

REVISION_RESULT_FIELDS = [
    "employee_name",
    "car_amount",
    "receipt_amount",
    "difference",
    "status",
    "has_card_lines",
    "previous_car_amount",
    "previous_receipt_amount",
    "amount_changed",
    "receipt_version_processed",
    "resolution_note",
    "resolved_by",
    "resolved_at",
    "version",
]


def _totals(rows: Any) -> dict[str, tuple[Decimal, str]]:
    return {row["employee_id"]: (row["total"], row["name"] or "") for row in rows}


def session_results_compute(
    session: ProcessingSession, *, receipt_version: ReceiptVersion | None = None
) -> list[EmployeeResult]:
    """Every employee of the session (card, receipts in effect, or an existing revision),
    with amounts and status as the rules of SPEC §5 give them."""
    card = _totals(
        CardTransaction.objects.filter(session=session)
        .values("employee_id")
        .annotate(total=Sum("amount"), name=Max("employee_name"))
        .order_by()
    )
    receipts = _totals(
        receipt_lines_in_effect(session, including=receipt_version)
        .values("employee_id")
        .annotate(total=Sum("amount"), name=Max("employee_name"))
        .order_by()
    )
    known = set(
        EmployeeRevision.objects.filter(session=session).values_list("employee_id", flat=True)
    )
    results = []
    for employee_id in sorted(card.keys() | receipts.keys() | known):
        car_amount, card_name = card.get(employee_id, (ZERO, ""))
        receipt_amount, receipt_name = receipts.get(employee_id, (ZERO, ""))
        has_card_lines = employee_id in card
        results.append(
            EmployeeResult(
                employee_id=employee_id,
                employee_name=card_name or receipt_name,
                car_amount=car_amount,
                receipt_amount=receipt_amount,
                difference=receipt_amount - car_amount,
                status=classify(
                    car_amount=car_amount,
                    receipt_amount=receipt_amount,
                    tolerance=session.tolerance,
                    has_card_lines=has_card_lines,
                ),
                has_card_lines=has_card_lines,
            )
        )
    return results


@dataclass
class RevisionPlan:
    """What applying a set of results would do, employee by employee."""

    to_create: list[EmployeeRevision] = field(default_factory=list)
    to_update: list[EmployeeRevision] = field(default_factory=list)
    diff: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    after: list[EmployeeRevision] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        changed = sum(1 for row in self.diff if row["change"] == "changed")
        removed = sum(1 for row in self.diff if row["change"] == "removed")
        return {
            "new": len(self.to_create),
            "changed": changed,
            "removed": removed,
            "unchanged": self.unchanged,
        }


def _diff_row(change: str, result: EmployeeResult, old: EmployeeRevision | None) -> dict[str, Any]:
    old_car = old.car_amount if old else None
    old_receipt = old.receipt_amount if old else None
    return {
        "employee_id": result.employee_id,
        "employee_name": result.employee_name,
        "change": change,
        "old_car_amount": None if old_car is None else str(old_car),
        "new_car_amount": str(result.car_amount),
        "old_receipt_amount": None if old_receipt is None else str(old_receipt),
        "new_receipt_amount": str(result.receipt_amount),
        "delta_car_amount": str(result.car_amount - (old_car or ZERO)),
        "delta_receipt_amount": str(result.receipt_amount - (old_receipt or ZERO)),
        "old_status": old.status if old else None,
        "new_status": result.status,
    }


def _next_state(rev: EmployeeRevision, result: EmployeeResult, processed: int | None) -> bool:
    """Move a revision to a result; True when anything a person would see changed."""
    amounts_changed = (rev.car_amount, rev.receipt_amount) != (
        result.car_amount,
        result.receipt_amount,
    )
    keeps_resolution = rev.status == EmployeeRevision.Status.RESOLVED and not amounts_changed
    status = EmployeeRevision.Status.RESOLVED if keeps_resolution else result.status
    before = (rev.status, rev.employee_name, rev.receipt_version_processed, rev.has_card_lines)
    rev.previous_car_amount = rev.car_amount
    rev.previous_receipt_amount = rev.receipt_amount
    rev.amount_changed = amounts_changed
    rev.car_amount = result.car_amount
    rev.receipt_amount = result.receipt_amount
    rev.difference = result.difference
    rev.status = status
    rev.has_card_lines = result.has_card_lines
    rev.employee_name = result.employee_name or rev.employee_name
    rev.receipt_version_processed = processed
    if not keeps_resolution and rev.resolution_note:
        # A resolution holds only for the amounts it was made on.
        rev.resolution_note, rev.resolved_by, rev.resolved_at = "", None, None
    after = (rev.status, rev.employee_name, rev.receipt_version_processed, rev.has_card_lines)
    return amounts_changed or before != after


def revision_plan(
    session: ProcessingSession, results: list[EmployeeResult], *, processed_version: int | None
) -> RevisionPlan:
    plan = RevisionPlan()
    existing = {rev.employee_id: rev for rev in EmployeeRevision.objects.filter(session=session)}
    for result in results:
        rev = existing.get(result.employee_id)
        if rev is None:
            created = _new_revision(session, result, processed_version)
            plan.to_create.append(created)
            plan.after.append(created)
            plan.diff.append(_diff_row("new", result, None))
            continue
        plan.after.append(rev)
        old = EmployeeRevision(car_amount=rev.car_amount, receipt_amount=rev.receipt_amount)
        old.status = rev.status
        amounts_before = (rev.car_amount, rev.receipt_amount)
        if _next_state(rev, result, processed_version):
            rev.version += 1
            plan.to_update.append(rev)
        if amounts_before != (result.car_amount, result.receipt_amount):
            gone = result.car_amount == ZERO and result.receipt_amount == ZERO
            plan.diff.append(_diff_row("removed" if gone else "changed", result, old))
        else:
            plan.unchanged += 1
    return plan


def _new_revision(
    session: ProcessingSession, result: EmployeeResult, processed_version: int | None
) -> EmployeeRevision:
    return EmployeeRevision(
        session=session,
        employee_id=result.employee_id,
        employee_name=result.employee_name,
        car_amount=result.car_amount,
        receipt_amount=result.receipt_amount,
        difference=result.difference,
        status=result.status,
        has_card_lines=result.has_card_lines,
        receipt_version_processed=processed_version,
    )


def revision_plan_apply(plan: RevisionPlan, *, actor: Any, change_reason: str) -> None:
    """Write the plan with one history row per touched revision. Call inside a transaction."""
    if plan.to_create:
        bulk_create_with_history(
            plan.to_create,
            EmployeeRevision,
            batch_size=WRITE_BATCH_SIZE,
            default_user=actor,
            default_change_reason=change_reason,
        )
    if plan.to_update:
        bulk_update_with_history(
            plan.to_update,
            EmployeeRevision,
            REVISION_RESULT_FIELDS,
            batch_size=WRITE_BATCH_SIZE,
            default_user=actor,
            default_change_reason=change_reason,
        )


def next_delta_export(plan: RevisionPlan) -> dict[str, Any]:
    """What the next delta pVault export would send once this plan is applied."""
    going = [rev for rev in plan.after if rev.change in ("new", "changed")]
    return {
        "new": sum(1 for rev in going if rev.change == "new"),
        "changed": sum(1 for rev in going if rev.change == "changed"),
        "total_amount": str(sum((rev.car_amount for rev in going), ZERO)),
        "employee_ids": [rev.employee_id for rev in going][:1000],
    }
