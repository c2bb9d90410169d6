"""Receipt requests (SPEC §16): one email per employee with unmatched charges and a contact,
listing exactly those charges; the skipped reported; every request recorded. Escalation of
charges still unmatched N days after the first request, once, to the manager."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from chasing.formatting import money
from chasing.models import ReceiptRequest, RequestedCharge
from chasing.selectors import (
    ChargeRow,
    PlannedRequest,
    ReminderPlan,
    chasing_settings_for,
    contacts_for,
    escalated_lines,
    first_requests_by_line,
    reminder_plan,
    unmatched_charges_by_employee,
)
from chasing.services.compose import compose, outbound_email_create
from chasing.services.delivery import outbound_email_enqueue
from core.locking import ensure_open, lock
from sessions_app.models import ZERO, ProcessingSession

MAX_NOTE_CHARS = 2000


@dataclass
class ReminderOutcome:
    plan: ReminderPlan
    dry_run: bool
    requests: list[ReceiptRequest] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "dry_run": self.dry_run,
            "sent": len(plan.recipients),
            "skipped_no_contact": [s.employee_id for s in plan.skipped_no_contact],
            "skipped_recent": [s.employee_id for s in plan.skipped_recent],
            "skipped": [_skipped(s) for s in [*plan.skipped_no_contact, *plan.skipped_recent]],
            "recipients": [
                {
                    "employee_id": r.employee_id,
                    "employee_name": r.employee_name,
                    "email": r.email,
                    "charges": [_charge(c) for c in r.charges],
                    "amount": r.amount,
                }
                for r in plan.recipients
            ],
            "amount": plan.amount,
        }


def _skipped(skipped: Any) -> dict[str, Any]:
    return {
        "employee_id": skipped.employee_id,
        "employee_name": skipped.employee_name,
        "reason": skipped.reason,
        "charges": skipped.charges,
        "amount": skipped.amount,
        "last_asked_at": skipped.last_asked_at,
    }


def _charge(charge: ChargeRow) -> dict[str, Any]:
    return {
        "card_line": charge.card_line_id,
        "line_number": charge.line_number,
        "date": charge.date,
        "merchant": charge.merchant,
        "amount": charge.amount,
    }


def receipt_requests_send(
    *,
    session: ProcessingSession,
    actor: Any,
    note: str = "",
    employee_ids: list[str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    now: datetime.datetime | None = None,
) -> ReminderOutcome:
    """Asks every employee with unmatched charges (optionally only `employee_ids`) for their
    receipts. `dry_run` answers the same plan and records nothing. The plan is made under
    the session's row lock, so two requests at once never both ask the same employee."""
    ensure_open(session)
    note = (note or "").strip()[:MAX_NOTE_CHARS]
    now = now or timezone.now()
    if dry_run:
        plan = reminder_plan(session=session, employee_ids=employee_ids, force=force, now=now)
        return ReminderOutcome(plan=plan, dry_run=True)
    with transaction.atomic():
        session = lock(session)
        ensure_open(session)
        plan = reminder_plan(session=session, employee_ids=employee_ids, force=force, now=now)
        outcome = ReminderOutcome(plan=plan, dry_run=False)
        for planned in plan.recipients:
            outcome.requests.append(
                _request_create(session, planned, ReceiptRequest.Kind.REQUEST, actor, note, force)
            )
        activity_event_record(
            verb=ActivityEvent.Verb.RECEIPTS_REQUESTED,
            message=_requested_message(plan),
            actor=actor,
            session=session,
            details={
                "requests": [r.pk for r in outcome.requests],
                "employees": [r.employee_id for r in plan.recipients],
                "skipped_no_contact": [s.employee_id for s in plan.skipped_no_contact],
                "skipped_recent": [s.employee_id for s in plan.skipped_recent],
                "amount": str(plan.amount),
                "forced": force,
            },
        )
    return outcome


def _requested_message(plan: ReminderPlan) -> str:
    parts = [
        f"Receipts requested from {len(plan.recipients)} employee"
        f"{'' if len(plan.recipients) == 1 else 's'} "
        f"({plan.charge_count} charges, {money(plan.amount)})"
    ]
    if plan.skipped_no_contact:
        parts.append(f"{len(plan.skipped_no_contact)} skipped without a contact")
    if plan.skipped_recent:
        parts.append(f"{len(plan.skipped_recent)} skipped as asked recently")
    return "; ".join(parts) + "."


def _request_create(
    session: ProcessingSession,
    planned: PlannedRequest,
    kind: str,
    actor: Any,
    note: str,
    forced: bool,
) -> ReceiptRequest:
    composed = _compose_request(session, planned, kind, note)
    email = outbound_email_create(
        engagement=session.engagement, to=planned.email, composed=composed, notify_user=actor
    )
    request = ReceiptRequest.objects.create(
        session=session,
        employee_id=planned.employee_id,
        employee_name=planned.employee_name,
        kind=kind,
        recipient=planned.email,
        note=note,
        forced=forced,
        amount=planned.amount,
        charge_count=len(planned.charges),
        requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        email=email,
    )
    RequestedCharge.objects.bulk_create(
        RequestedCharge(
            request=request,
            card_line_id=charge.card_line_id,
            line_number=charge.line_number,
            date=charge.date,
            merchant=charge.merchant,
            amount=charge.amount,
        )
        for charge in planned.charges
    )
    outbound_email_enqueue(email)
    return request


def _compose_request(
    session: ProcessingSession, planned: PlannedRequest, kind: str, note: str
) -> Any:
    escalation = kind == ReceiptRequest.Kind.ESCALATION
    who = planned.employee_name or planned.employee_id
    subject = (
        f"Receipts still missing for {who} · {session.name}"
        if escalation
        else f"Receipts needed for {len(planned.charges)} card charge"
        f"{'' if len(planned.charges) == 1 else 's'} · {session.name}"
    )
    context = {
        "session": session,
        "engagement": session.engagement,
        "employee_id": planned.employee_id,
        "employee_name": planned.employee_name,
        "charges": [
            {"date": c.date, "merchant": c.merchant, "amount": money(c.amount)}
            for c in planned.charges
        ],
        "total": money(planned.amount),
        "note": note,
        "escalation": escalation,
    }
    return compose("escalation" if escalation else "receipt_request", subject, context)


# --- Escalation --------------------------------------------------------------------------------


def receipt_requests_escalate(*, now: datetime.datetime | None = None) -> int:
    """For every open session: charges first asked for at least `escalation_days` ago and
    still unmatched go once to the employee's manager. Returns how many emails were queued."""
    now = now or timezone.now()
    sessions = (
        ProcessingSession.objects.exclude(status=ProcessingSession.Status.CLOSED)
        .filter(receipt_requests__kind=ReceiptRequest.Kind.REQUEST)
        .select_related("engagement")
        .distinct()
    )
    return sum(len(session_escalate(session=session, now=now)) for session in sessions)


def session_escalate(*, session: ProcessingSession, now: datetime.datetime) -> list[ReceiptRequest]:
    days = chasing_settings_for(session.engagement).escalation_days
    cutoff = now - datetime.timedelta(days=days)
    first_asked = first_requests_by_line(session)
    already = escalated_lines(session)
    managers = dict(
        contacts_for(session.engagement)
        .filter(employee_id__in=list(first_asked))
        .exclude(manager_email="")
        .values_list("employee_id", "manager_email")
    )
    if not managers:
        return []
    created: list[ReceiptRequest] = []
    unmatched = unmatched_charges_by_employee(session, list(managers))
    with transaction.atomic():
        for employee_id, (name, rows) in unmatched.items():
            asked = first_asked.get(employee_id, {})
            overdue = [
                row
                for row in rows
                if row.card_line_id in asked
                and asked[row.card_line_id] <= cutoff
                and row.card_line_id not in already
            ]
            if not overdue:
                continue
            planned = PlannedRequest(employee_id, name, managers[employee_id], overdue)
            created.append(
                _request_create(session, planned, ReceiptRequest.Kind.ESCALATION, None, "", False)
            )
        if created:
            _record_escalation(session, created, days)
    return created


def _record_escalation(
    session: ProcessingSession, created: list[ReceiptRequest], days: int
) -> None:
    amount: Decimal = sum((r.amount for r in created), ZERO)
    activity_event_record(
        verb=ActivityEvent.Verb.RECEIPTS_ESCALATED,
        message=(
            f"Charges still unmatched {days} days after the first request sent to the "
            f"managers of {len(created)} employee{'' if len(created) == 1 else 's'} "
            f"({money(amount)})."
        ),
        session=session,
        actor_label="schedule",
        details={
            "requests": [r.pk for r in created],
            "employees": [r.employee_id for r in created],
            "amount": str(amount),
        },
    )
