"""The operator's decisions (manual pairs and unmatches) found again among the current
lines before every pairing (matching.identity); a decision whose line is gone ends, as an
audit event."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from matching.identity import (
    LineIdentity,
    card_identities,
    card_line_values,
    receipt_identities,
    receipt_line_values,
)
from matching.models import ManualDecision
from matching.statements import MatchingOutcome
from sessions_app.models import (
    ProcessingSession,
)


def decisions_key(manual: list[ManualDecision]) -> tuple[tuple[int, int | None, int | None], ...]:
    return tuple(sorted((d.pk, d.card_line_id, d.receipt_line_id) for d in manual))


def decisions_refresh(
    session: ProcessingSession,
    *,
    version_ids: list[int],
    actor: Any,
    outcome: MatchingOutcome,
    employee_id: str | None = None,
    dry_run: bool = False,
) -> list[ManualDecision]:
    """The active decisions, each pointing at its line(s) as they are now; those whose line
    is gone are ended (an audit event each). `dry_run` writes nothing: what the apply will
    find, for pairing ahead of it."""
    active = ManualDecision.objects.filter(session=session, ended_at__isnull=True)
    if employee_id is not None:
        active = active.filter(employee_id=employee_id)
    decisions = list(active.order_by("decided_at", "id"))
    if not decisions:
        return []
    employees = {d.employee_id for d in decisions}
    cards = card_identities(card_line_values(session.pk, employees))
    receipts = receipt_identities(receipt_line_values(session.pk, employees, version_ids))
    kept: list[ManualDecision] = []
    claimed: set[tuple[str, int | None]] = set()
    for decision in decisions:
        card_id = cards.get(_card_identity(decision))
        receipt_id = None
        gone = ""
        if card_id is None:
            gone = "its card line is no longer on the card statement"
        elif decision.kind == ManualDecision.Kind.MATCH:
            receipt_id = receipts.get(_receipt_identity(decision))
            if receipt_id is None:
                gone = "its receipt line left the effective receipts"
        if not gone and ({("c", card_id), ("r", receipt_id)} - {("r", None)}) & claimed:
            gone = "a later decision took one of its lines"
        if gone:
            if not dry_run:
                _decision_end(decision, reason=gone, actor=actor, session=session)
            outcome.ended_decisions.append(decision.pk)
            continue
        claimed |= {("c", card_id), ("r", receipt_id)} - {("r", None)}
        if (decision.card_line_id, decision.receipt_line_id) != (card_id, receipt_id):
            decision.card_line_id, decision.receipt_line_id = card_id, receipt_id
            if not dry_run:
                decision.save(update_fields=["card_line_id", "receipt_line_id"])
        kept.append(decision)
    return kept


def _card_identity(decision: ManualDecision) -> LineIdentity:
    return LineIdentity(
        decision.employee_id,
        decision.card_date,
        decision.card_amount,
        decision.card_merchant,
        decision.card_occurrence,
    )


def _receipt_identity(decision: ManualDecision) -> LineIdentity:
    return LineIdentity(
        decision.employee_id,
        decision.receipt_date,
        decision.receipt_amount,  # type: ignore[arg-type]
        decision.receipt_ref,
        decision.receipt_occurrence or 1,
    )


def _decision_end(
    decision: ManualDecision, *, reason: str, actor: Any, session: ProcessingSession
) -> None:
    decision.ended_at = timezone.now()
    decision.ended_reason = reason[:200]
    decision.save(update_fields=["ended_at", "ended_reason"])
    what = "manual match" if decision.kind == ManualDecision.Kind.MATCH else "manual unmatch"
    activity_event_record(
        verb=ActivityEvent.Verb.MANUAL_MATCH_ENDED,
        message=f"{decision.employee_id}: {what} of {decision.card_amount} ended: {reason}",
        actor=actor,
        session=session,
        details={
            "employee_id": decision.employee_id,
            "decision": decision.pk,
            "kind": decision.kind,
            "reason": reason,
            "note": decision.note,
        },
    )
