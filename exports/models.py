from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from sessions_app.models import MONEY


def export_file_path(instance: ExportBatch, filename: str) -> str:
    return f"exports/{instance.session.engagement_id}/{instance.session_id}/{filename}"


class ExportBatch(models.Model):
    """One generated export file. Immutable once written, except for void and marking."""

    class ExportType(models.TextChoices):
        PVAULT = "pvault", "pVault import"
        EXCEPTIONS = "exceptions", "Exceptions report"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        VOID = "void", "Void"

    session = models.ForeignKey(
        "sessions_app.ProcessingSession", on_delete=models.PROTECT, related_name="export_batches"
    )
    # The session's engagement, kept on the batch so the database can hold codes unique
    # per engagement (SPEC §6): codes are numbered per engagement, export type and
    # statement period, so one engagement's codes never reveal another's activity, and two
    # sessions of one engagement's October never both produce PV-2026-10-001.
    engagement = models.ForeignKey(
        "sessions_app.Engagement", on_delete=models.PROTECT, related_name="+"
    )
    batch_code = models.CharField(max_length=40)
    period = models.CharField(max_length=7)
    sequence = models.PositiveIntegerField()
    export_type = models.CharField(max_length=12, choices=ExportType.choices)
    delta_only = models.BooleanField(default=True)
    mark_as_exported = models.BooleanField(default=True)
    marked_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    employee_count = models.PositiveIntegerField(default=0)
    total_amount = models.DecimalField(**MONEY, default=0)
    file = models.FileField(upload_to=export_file_path, max_length=300, blank=True)
    # What the file's header cells said, kept so the file can be rebuilt byte for byte
    # even after the session is renamed.
    session_name = models.CharField(max_length=200, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    file_format = models.CharField(max_length=8, default="csv")
    file_size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    # NULL, not "", so that batches without a key never collide in the unique constraint.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    # sha256 of the request that made the batch (session, type, scope, marking, format,
    # confirmation, reason): the same key with another request is refused, not replayed.
    request_fingerprint = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "export batches"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["engagement", "export_type", "period", "sequence"],
                name="export_batch_unique_engagement_sequence",
            ),
            models.UniqueConstraint(
                fields=["engagement", "batch_code"], name="export_batch_unique_engagement_code"
            ),
            # Per engagement, not per session: the same key sent for another session of
            # the engagement is found, and refused.
            models.UniqueConstraint(
                fields=["engagement", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="export_batch_unique_engagement_idempotency_key",
            ),
            models.CheckConstraint(
                condition=~Q(status="void") | ~Q(void_reason=""), name="export_batch_void_reason"
            ),
        ]
        indexes = [models.Index(fields=["session", "-created_at"], name="export_session_time")]

    def __str__(self) -> str:
        return self.batch_code

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.engagement_id is None and self.session_id is not None:
            self.engagement_id = self.session.engagement_id
        super().save(*args, **kwargs)

    @property
    def is_void(self) -> bool:
        return self.status == self.Status.VOID

    @property
    def is_pvault(self) -> bool:
        return self.export_type == self.ExportType.PVAULT


class ExportLine(models.Model):
    """Exactly what one employee's line of a batch said, and what was exported before it."""

    # No single-column indexes on these foreign keys: (batch, employee_id) and
    # (revision, batch) below serve every lookup, and each index is written 100k times by
    # a 100k-employee export. The references to batches are not per-row foreign keys either
    # (100k checks of the same batch at commit) but set-based guards, one check per
    # statement (migration 0006_line_reference_guards, sessions_app/reference_guards.py).
    # The revision stays a foreign key: its 100k distinct rows cost the same either way.
    batch = models.ForeignKey(
        ExportBatch,
        on_delete=models.PROTECT,
        related_name="lines",
        db_index=False,
        db_constraint=False,
    )
    revision = models.ForeignKey(
        "sessions_app.EmployeeRevision",
        on_delete=models.PROTECT,
        related_name="export_lines",
        db_index=False,
    )
    employee_id = models.CharField(max_length=100)
    employee_name = models.CharField(max_length=200, blank=True)
    car_amount = models.DecimalField(**MONEY)
    receipt_amount = models.DecimalField(**MONEY)
    difference = models.DecimalField(**MONEY, default=0)
    status = models.CharField(max_length=20)
    change_type = models.CharField(max_length=10, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    last_changed_at = models.DateTimeField(null=True, blank=True)
    # The snapshot this line replaced, so a void can put it back.
    previous_exported_amount = models.DecimalField(**MONEY, default=0)
    previous_exported_receipt_amount = models.DecimalField(**MONEY, null=True, blank=True)
    previous_batch = models.ForeignKey(
        ExportBatch,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    previous_exported_at = models.DateTimeField(null=True, blank=True)
    had_previous_export = models.BooleanField(default=False)
    adjustment_amount = models.DecimalField(**MONEY, default=0)
    # Exceptions reports: the employee's charges without a receipt (SPEC §14) when the
    # report was made. Empty on pVault lines and on lines made before line matching, whose
    # files have no such columns.
    unmatched_charge_count = models.PositiveIntegerField(null=True, blank=True)
    unmatched_charge_amount = models.DecimalField(**MONEY, null=True, blank=True)
    # Set when pVault is known to hold this line (at generation, or by a later
    # mark-exported); only marked lines of non-void pvault batches count as exported.
    marked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "employee_id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "employee_id"], name="export_line_unique"),
        ]
        indexes = [models.Index(fields=["revision", "batch"], name="export_line_revision")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.employee_id}"


class SessionChangeSummary(models.Model):
    """Per session: how many employees are new, changed, unchanged or not ready for pVault,
    and their card totals in cents. `change_summary` reads this one row instead of
    aggregating every revision (a 100k-employee session takes ~40 ms to aggregate).

    Written ONLY by database triggers on the revisions table (migration 0005), in the
    statement that changes a revision: every writer — services, the recalculation's
    set-based SQL, admin, fixtures, raw SQL — keeps it exact without knowing about it, and
    a rolled-back write rolls it back too. The kind of a revision is the definition of
    `exports.selectors.change_kind_expression`; tests compare the two on random data and
    after every step of long random sequences of operations."""

    session = models.OneToOneField(
        "sessions_app.ProcessingSession",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="+",
    )
    new_count = models.BigIntegerField(default=0)
    new_cents = models.BigIntegerField(default=0)
    changed_count = models.BigIntegerField(default=0)
    changed_cents = models.BigIntegerField(default=0)
    unchanged_count = models.BigIntegerField(default=0)
    unchanged_cents = models.BigIntegerField(default=0)
    not_ready_count = models.BigIntegerField(default=0)
    not_ready_cents = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"change summary of session {self.session_id}"
