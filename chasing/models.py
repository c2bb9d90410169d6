"""Chasing receipts (SPEC §16): the employee directory, receipt requests with the charges
they list, the emails that carry them, and the weekly report's subscribers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from sessions_app.models import MONEY, ZERO, Engagement, ProcessingSession

DEFAULT_QUIET_PERIOD_DAYS = 3
DEFAULT_ESCALATION_DAYS = 7


class EmployeeContact(models.Model):
    """Where to ask an employee (and their manager) for receipts, per engagement."""

    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="contacts")
    employee_id = models.CharField(max_length=100)
    email = models.EmailField(max_length=254)
    manager_email = models.EmailField(max_length=254, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["engagement", "employee_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["engagement", "employee_id"], name="contact_unique_employee"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.employee_id} <{self.email}>"


class ChasingSettings(models.Model):
    """Per engagement: how long to wait before asking again, and before escalating."""

    engagement = models.OneToOneField(
        Engagement, on_delete=models.CASCADE, related_name="chasing_settings"
    )
    quiet_period_days = models.PositiveIntegerField(
        default=DEFAULT_QUIET_PERIOD_DAYS,
        help_text="An employee asked for the same charges within this many days is skipped.",
    )
    escalation_days = models.PositiveIntegerField(
        default=DEFAULT_ESCALATION_DAYS,
        help_text="Charges still unmatched this many days after the first request go to "
        "the manager.",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "chasing settings"

    def __str__(self) -> str:
        return f"Chasing settings of {self.engagement}"


class OutboundEmail(models.Model):
    """One email as it was composed, and what became of it. Delivery claims the row before
    sending, so a retried or repeated task never sends it twice."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Waiting to retry"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    engagement = models.ForeignKey(
        Engagement, on_delete=models.PROTECT, related_name="outbound_emails"
    )
    to = models.EmailField(max_length=254)
    subject = models.CharField(max_length=300)
    text_body = models.TextField()
    html_body = models.TextField()
    attachment_name = models.CharField(max_length=200, blank=True)
    attachment_content = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    notify_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="email_status_due")]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to} ({self.get_status_display()})"


class DeliveryAttempt(models.Model):
    email = models.ForeignKey(OutboundEmail, on_delete=models.CASCADE, related_name="deliveries")
    attempted_at = models.DateTimeField(auto_now_add=True)
    succeeded = models.BooleanField()
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M} {'sent' if self.succeeded else self.error}"


class ReceiptRequest(models.Model):
    """One ask for receipts: to the employee, or (escalation) to their manager."""

    class Kind(models.TextChoices):
        REQUEST = "request", "Receipt request"
        ESCALATION = "escalation", "Escalation to manager"

    session = models.ForeignKey(
        ProcessingSession, on_delete=models.PROTECT, related_name="receipt_requests"
    )
    employee_id = models.CharField(max_length=100)
    employee_name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.REQUEST)
    recipient = models.EmailField(max_length=254)
    note = models.TextField(blank=True)
    forced = models.BooleanField(default=False)
    amount = models.DecimalField(**MONEY, default=ZERO)
    charge_count = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    email = models.OneToOneField(
        OutboundEmail, on_delete=models.PROTECT, related_name="receipt_request"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["session", "employee_id", "-created_at"], name="request_employee"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient} ({self.employee_id})"


class RequestedCharge(models.Model):
    """A card line as it was listed in a request (kept even if the line later changes)."""

    request = models.ForeignKey(ReceiptRequest, on_delete=models.CASCADE, related_name="charges")
    card_line_id = models.BigIntegerField()
    line_number = models.PositiveIntegerField()
    date = models.DateField(null=True, blank=True)
    merchant = models.CharField(max_length=300, blank=True)
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["date", "line_number"]
        indexes = [models.Index(fields=["card_line_id"], name="requested_charge_line")]

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.amount}"


class ReportSubscription(models.Model):
    class Frequency(models.TextChoices):
        WEEKLY = "weekly", "Weekly"

    engagement = models.ForeignKey(
        Engagement, on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    email = models.EmailField(max_length=254)
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.WEEKLY)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["engagement", "email"]
        constraints = [
            models.UniqueConstraint(fields=["engagement", "email"], name="subscription_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_frequency_display()})"


class WeeklyReportDelivery(models.Model):
    """One week's report to one subscriber: at most one per week, whoever runs the schedule."""

    subscription = models.ForeignKey(
        ReportSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    week_start = models.DateField()
    scheduled = models.BooleanField(
        default=True, help_text='Sent by the weekly schedule (not by "send now").'
    )
    email = models.OneToOneField(OutboundEmail, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-week_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "week_start"],
                condition=Q(scheduled=True),
                name="weekly_report_once",
            ),
        ]

    def __str__(self) -> str:
        return f"Week of {self.week_start} → {self.subscription.email}"
