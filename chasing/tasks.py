"""django-q2 entry points: thin, each calls one service."""

from __future__ import annotations

from chasing.services import (
    outbound_email_deliver,
    outbound_emails_deliver_due,
    receipt_requests_escalate,
    weekly_reports_send,
)


def outbound_email_deliver_task(email_id: int) -> str:
    email = outbound_email_deliver(email_id=email_id)
    return "nothing to do" if email is None else email.status


def outbound_emails_retry_task() -> int:
    return outbound_emails_deliver_due()


def receipt_requests_escalate_task() -> int:
    return receipt_requests_escalate()


def weekly_reports_send_task() -> int:
    return weekly_reports_send()
