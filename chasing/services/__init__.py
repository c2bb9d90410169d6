"""Every write of chasing; each door (page, API, admin, schedule) calls these."""

from __future__ import annotations

from chasing.services.contacts import DirectoryImportSummary, employee_contacts_import
from chasing.services.delivery import outbound_email_deliver, outbound_emails_deliver_due
from chasing.services.reports import (
    weekly_report_build,
    weekly_report_compose,
    weekly_report_send_now,
    weekly_reports_send,
)
from chasing.services.requests import (
    ReminderOutcome,
    receipt_requests_escalate,
    receipt_requests_send,
)
from chasing.services.subscriptions import (
    chasing_settings_save,
    report_subscription_create,
    report_subscription_delete,
)

__all__ = [
    "DirectoryImportSummary",
    "ReminderOutcome",
    "chasing_settings_save",
    "employee_contacts_import",
    "outbound_email_deliver",
    "outbound_emails_deliver_due",
    "receipt_requests_escalate",
    "receipt_requests_send",
    "report_subscription_create",
    "report_subscription_delete",
    "weekly_report_build",
    "weekly_report_compose",
    "weekly_report_send_now",
    "weekly_reports_send",
]
