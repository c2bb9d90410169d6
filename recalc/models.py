from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

ACTIVE_JOB_STATUSES = ("queued", "running", "awaiting_confirmation")


class RecalcJob(models.Model):
    """One background (re)calculation of a session."""

    class Kind(models.TextChoices):
        INITIAL = "initial", "Initial processing"
        RECEIPTS = "receipts", "New receipts version"
        ROLLBACK = "rollback", "Receipts rollback"
        CARD = "card", "Card statement replaced"
        TOLERANCE = "tolerance", "Tolerance changed"
        MANUAL = "manual", "Recalculation requested"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        AWAITING_CONFIRMATION = "awaiting_confirmation", "Awaiting confirmation"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    session = models.ForeignKey(
        "sessions_app.ProcessingSession", on_delete=models.PROTECT, related_name="recalc_jobs"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.QUEUED)
    preview = models.BooleanField(default=False)
    receipt_version = models.ForeignKey(
        "sessions_app.ReceiptVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recalc_jobs",
    )
    stage = models.PositiveSmallIntegerField(default=0)
    stage_name = models.CharField(max_length=40, blank=True)
    completed_stage = models.PositiveSmallIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    progress = models.FloatField(default=0.0)  # a display fraction, never money
    message = models.CharField(max_length=500, blank=True)
    errors = models.JSONField(default=list, blank=True)
    diff = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    # When the job was last handed to the broker: the watchdog hands a job that stayed queued
    # far longer again, since a broker without receipts (Redis) loses what a dead worker held.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # host:pid of the worker process running the current attempt, for operators chasing a job.
    claimed_by = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(status__in=ACTIVE_JOB_STATUSES),
                name="recalc_one_active_job_per_session",
            ),
        ]
        indexes = [
            models.Index(fields=["session", "-created_at"], name="recalc_session_time"),
            models.Index(fields=["status", "heartbeat_at"], name="recalc_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} ({self.kind}, {self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    @property
    def is_running(self) -> bool:
        """Queued or running: still moving by itself, so its panel keeps polling."""
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
