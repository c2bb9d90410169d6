from __future__ import annotations

from django.conf import settings
from django.db import models
from rest_framework.authtoken.models import Token


class ActivityEvent(models.Model):
    """One human-readable audit event, written by a domain operation (never by a view)."""

    class Verb(models.TextChoices):
        ENGAGEMENT_CREATED = "engagement_created", "Engagement created"
        MEMBERSHIP_GRANTED = "membership_granted", "Membership granted"
        MEMBERSHIP_REVOKED = "membership_revoked", "Membership revoked"
        IMPORT_PROFILE_SAVED = "import_profile_saved", "Import profile saved"
        SESSION_CREATED = "session_created", "Session created"
        SESSION_UPDATED = "session_updated", "Session updated"
        SESSION_CLOSED = "session_closed", "Session closed"
        CARD_REPLACED = "card_replaced", "Card statement replaced"
        RECEIPTS_UPLOADED = "receipts_uploaded", "Receipts uploaded"
        RECEIPTS_REAPPLIED = "receipts_reapplied", "Receipts version re-applied"
        SESSION_RECALCULATED = "session_recalculated", "Session recalculated"
        JOB_STARTED = "job_started", "Job started"
        JOB_FINISHED = "job_finished", "Job finished"
        JOB_FAILED = "job_failed", "Job failed"
        JOB_CANCELLED = "job_cancelled", "Job cancelled"
        JOB_RESUMED = "job_resumed", "Job resumed"
        JOB_DISCARDED = "job_discarded", "Job discarded"
        EXPORT_GENERATED = "export_generated", "Export generated"
        EXPORT_DOWNLOADED = "export_downloaded", "Export downloaded"
        EXPORT_VOIDED = "export_voided", "Export voided"
        EXPORT_MARKED = "export_marked", "Export marked as exported"
        EMPLOYEE_RESOLVED = "employee_resolved", "Employee resolved"
        BULK_CLOSE = "bulk_close", "Bulk close"
        BULK_EXPORT = "bulk_export", "Bulk export"
        LOGIN_FAILED = "login_failed", "Failed login"
        LOGIN_LOCKED_OUT = "login_locked_out", "Login locked out"
        SESSION_ARCHIVED = "session_archived", "Session archived"
        SESSION_RESTORED = "session_restored", "Session restored"
        LINES_MATCHED = "lines_matched", "Lines matched by hand"
        LINES_UNMATCHED = "lines_unmatched", "Lines unmatched by hand"
        MANUAL_MATCH_ENDED = "manual_match_ended", "Manual match ended"
        CONTACTS_IMPORTED = "contacts_imported", "Employee directory loaded"
        RECEIPTS_REQUESTED = "receipts_requested", "Receipts requested"
        RECEIPTS_ESCALATED = "receipts_escalated", "Receipts escalated to manager"
        EMAIL_FAILED = "email_failed", "Email delivery failed"
        WEEKLY_REPORT_SENT = "weekly_report_sent", "Weekly report sent"

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=40, choices=Verb.choices)
    engagement = models.ForeignKey(
        "sessions_app.Engagement", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    session = models.ForeignKey(
        "sessions_app.ProcessingSession",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="activity_events",
    )
    message = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["engagement", "-occurred_at"], name="event_engagement_time"),
            models.Index(fields=["session", "-occurred_at"], name="event_session_time"),
            models.Index(fields=["verb", "-occurred_at"], name="event_verb_time"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.actor_label}: {self.message}"


class Notification(models.Model):
    """An in-app message for one user (job finished or failed)."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        SUCCESS = "success", "Success"
        ERROR = "error", "Error"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    message = models.CharField(max_length=500)
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.message


class ApiToken(Token):
    """DRF's token as the admin shows it: never the key in clear, also not in the
    admin's messages and its log of recent actions, which print the object itself."""

    class Meta:
        proxy = True
        verbose_name = "API token"
        verbose_name_plural = "API tokens"

    def __str__(self) -> str:
        return f"{self.masked_key} ({self.user})"

    @property
    def masked_key(self) -> str:
        return f"{self.key[:4]}…" if self.key else ""
