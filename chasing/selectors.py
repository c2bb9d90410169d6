"""Reads for chasing: the directory, who would be asked for which charges, what was asked."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, QuerySet

from chasing.models import (
    ChasingSettings,
    EmployeeContact,
    OutboundEmail,
    ReceiptRequest,
    ReportSubscription,
    RequestedCharge,
)
from matching.selectors import unmatched_charges
from sessions_app.models import ZERO, Engagement, ProcessingSession


def contacts_for(engagement: Engagement) -> QuerySet[EmployeeContact]:
    return EmployeeContact.objects.filter(engagement=engagement).order_by("employee_id")


def subscriptions_for(engagement: Engagement) -> QuerySet[ReportSubscription]:
    return ReportSubscription.objects.filter(engagement=engagement).order_by("email")


def chasing_settings_for(engagement: Engagement) -> ChasingSettings:
    """The engagement's settings, or the defaults when none were saved."""
    found = ChasingSettings.objects.filter(engagement=engagement).first()
    return found or ChasingSettings(engagement=engagement)


@dataclass
class ChargeRow:
    card_line_id: int
    line_number: int
    date: datetime.date | None
    merchant: str
    amount: Decimal


@dataclass
class PlannedRequest:
    employee_id: str
    employee_name: str
    email: str
    charges: list[ChargeRow]

    @property
    def amount(self) -> Decimal:
        return sum((charge.amount for charge in self.charges), ZERO)


@dataclass
class SkippedEmployee:
    employee_id: str
    employee_name: str
    reason: str  # "no_contact" or "recent"
    charges: int
    amount: Decimal
    last_asked_at: datetime.datetime | None = None

    @property
    def reason_label(self) -> str:
        if self.reason == "no_contact":
            return "No email in the employee directory"
        return "Already asked for these charges during the quiet period"


@dataclass
class ReminderPlan:
    recipients: list[PlannedRequest] = field(default_factory=list)
    skipped_no_contact: list[SkippedEmployee] = field(default_factory=list)
    skipped_recent: list[SkippedEmployee] = field(default_factory=list)
    quiet_period_days: int = 0

    @property
    def amount(self) -> Decimal:
        return sum((recipient.amount for recipient in self.recipients), ZERO)

    @property
    def charge_count(self) -> int:
        return sum(len(recipient.charges) for recipient in self.recipients)


def unmatched_charges_by_employee(
    session: ProcessingSession, employee_ids: Iterable[str] | None = None
) -> dict[str, tuple[str, list[ChargeRow]]]:
    """employee id -> (name, charges without a receipt), in the chase list's order."""
    grouped: dict[str, tuple[str, list[ChargeRow]]] = {}
    ids = None if employee_ids is None else list(employee_ids)
    # Rows carry employee_name and card_line_id as annotations the type checker cannot see.
    rows: Iterable[Any] = unmatched_charges(session=session, employee_ids=ids)
    for row in rows:
        _, charges = grouped.setdefault(row.employee_id, (row.employee_name, []))
        charges.append(
            ChargeRow(row.card_line_id, row.line_number, row.date, row.merchant, row.amount)
        )
    return grouped


def recently_requested_lines(
    session: ProcessingSession, employee_ids: Iterable[str], since: datetime.datetime
) -> dict[str, tuple[set[int], datetime.datetime]]:
    """Per employee: the card lines asked for since `since`, and when they were last asked."""
    asked: dict[str, tuple[set[int], datetime.datetime]] = {}
    rows = RequestedCharge.objects.filter(
        request__session=session,
        request__kind=ReceiptRequest.Kind.REQUEST,
        request__employee_id__in=list(employee_ids),
        request__created_at__gte=since,
    ).values_list("request__employee_id", "card_line_id", "request__created_at")
    for employee_id, line_id, created_at in rows:
        lines, last = asked.get(employee_id, (set(), created_at))
        lines.add(line_id)
        asked[employee_id] = (lines, max(last, created_at))
    return asked


def reminder_plan(
    *,
    session: ProcessingSession,
    employee_ids: Iterable[str] | None = None,
    force: bool = False,
    now: datetime.datetime,
) -> ReminderPlan:
    """Who gets a request for which charges, and who is skipped and why (SPEC §16)."""
    charges = unmatched_charges_by_employee(session, employee_ids)
    quiet_days = chasing_settings_for(session.engagement).quiet_period_days
    plan = ReminderPlan(quiet_period_days=quiet_days)
    contacts = dict(
        contacts_for(session.engagement)
        .filter(employee_id__in=list(charges))
        .values_list("employee_id", "email")
    )
    recent = (
        {}
        if force
        else recently_requested_lines(session, charges, now - datetime.timedelta(days=quiet_days))
    )
    for employee_id, (name, rows) in charges.items():
        amount = sum((row.amount for row in rows), ZERO)
        if employee_id not in contacts:
            plan.skipped_no_contact.append(
                SkippedEmployee(employee_id, name, "no_contact", len(rows), amount)
            )
            continue
        asked_lines, last_asked = recent.get(employee_id, (set(), None))
        if last_asked is not None and {row.card_line_id for row in rows} <= asked_lines:
            plan.skipped_recent.append(
                SkippedEmployee(employee_id, name, "recent", len(rows), amount, last_asked)
            )
            continue
        plan.recipients.append(PlannedRequest(employee_id, name, contacts[employee_id], rows))
    return plan


def receipt_requests_for(
    session: ProcessingSession, *, employee_id: str | None = None
) -> QuerySet[ReceiptRequest]:
    """Requests with their charges, email and delivery attempts, newest first."""
    requests = ReceiptRequest.objects.filter(session=session)
    if employee_id is not None:
        requests = requests.filter(employee_id=employee_id)
    return requests.select_related("email", "requested_by").prefetch_related(
        "charges", Prefetch("email__deliveries")
    )


def email_delivery_counts(session: ProcessingSession) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for status in ReceiptRequest.objects.filter(session=session).values_list(
        "email__status", flat=True
    ):
        counts[status] += 1
    return dict(counts)


def emails_due(now: datetime.datetime) -> QuerySet[OutboundEmail]:
    return OutboundEmail.objects.filter(
        status=OutboundEmail.Status.RETRYING, next_attempt_at__lte=now
    ).order_by("next_attempt_at")


def first_requests_by_line(
    session: ProcessingSession,
) -> dict[str, dict[int, Any]]:
    """employee id -> card line id -> when that line was first asked for (requests only)."""
    first: dict[str, dict[int, Any]] = defaultdict(dict)
    rows = (
        RequestedCharge.objects.filter(
            request__session=session, request__kind=ReceiptRequest.Kind.REQUEST
        )
        .order_by("request__created_at")
        .values_list("request__employee_id", "card_line_id", "request__created_at")
    )
    for employee_id, line_id, created_at in rows:
        first[employee_id].setdefault(line_id, created_at)
    return first


def escalated_lines(session: ProcessingSession) -> set[int]:
    return set(
        RequestedCharge.objects.filter(
            request__session=session, request__kind=ReceiptRequest.Kind.ESCALATION
        ).values_list("card_line_id", flat=True)
    )
