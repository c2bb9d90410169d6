from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Final, TypedDict

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class MoneyDigits(TypedDict):
    """The precision of every amount column and expression: `DecimalField(**MONEY)`. Typed
    per key, so a splat gives each of DecimalField's parameters its own type."""

    max_digits: int
    decimal_places: int


MONEY: Final[MoneyDigits] = {"max_digits": 14, "decimal_places": 2}
ZERO = Decimal("0.00")


currency_code_validator = RegexValidator(
    r"^[A-Z]{3}\Z", "Enter an ISO 4217 currency code: three upper-case letters, e.g. USD."
)


def default_currency() -> str:
    """The ISO 4217 code a new engagement starts with (setting DEFAULT_CURRENCY)."""
    return settings.DEFAULT_CURRENCY


class Engagement(models.Model):
    """A client company / card program. Its members see its sessions; nobody else does."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    currency = models.CharField(
        max_length=3,
        default=default_currency,
        validators=[currency_code_validator],
        help_text="ISO 4217 code of the amounts in this engagement's files, e.g. USD.",
    )
    default_session = models.ForeignKey(
        "ProcessingSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OPERATOR = "operator", "Operator"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.OPERATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "engagement"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.engagement} ({self.role})"


class UserPreference(models.Model):
    """What the page header remembers per user: default engagement and current session."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="closebook_preference"
    )
    default_engagement = models.ForeignKey(
        Engagement, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    current_session = models.ForeignKey(
        "ProcessingSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Preferences of {self.user}"


class ImportProfile(models.Model):
    """How to read one kind of bank or expense-tool file (like pVault's own CSV importer)."""

    class DecimalSeparator(models.TextChoices):
        POINT = ".", "Point (1,234.56)"
        COMMA = ",", "Comma (1.234,56)"

    engagement = models.ForeignKey(
        Engagement, on_delete=models.CASCADE, related_name="import_profiles"
    )
    name = models.CharField(max_length=100)
    delimiter = models.CharField(max_length=2, blank=True, help_text="Empty: detect")
    encoding = models.CharField(max_length=20, blank=True, help_text="Empty: detect")
    skip_lines = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: find header")
    columns = models.JSONField(default=dict, blank=True)
    decimal_separator = models.CharField(max_length=1, blank=True, choices=DecimalSeparator.choices)
    date_format = models.CharField(max_length=30, blank=True)
    charges_negative = models.BooleanField(default=False)
    unassigned_employee_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="Employee id for charges whose employee id is blank (e.g. UNASSIGNED); "
        "empty: such a charge is an error",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["engagement", "name"], name="import_profile_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def as_settings_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "delimiter": self.delimiter or None,
            "encoding": self.encoding or None,
            "skip_lines": self.skip_lines,
            "columns": self.columns or {},
            "decimal_separator": self.decimal_separator or None,
            "date_format": self.date_format or None,
            "charges_negative": self.charges_negative,
            "unassigned_employee_id": self.unassigned_employee_id,
        }


def card_file_path(instance: ProcessingSession, filename: str) -> str:
    return f"sessions/{instance.engagement_id}/card/{instance.card_sha256[:16]}-{filename}"


class ProcessingSession(models.Model):
    """One statement period of one engagement."""

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        REPROCESSING = "reprocessing", "Reprocessing"
        FAILED = "failed", "Failed"
        CLOSED = "closed", "Closed"

    engagement = models.ForeignKey(Engagement, on_delete=models.PROTECT, related_name="sessions")
    name = models.CharField(max_length=200)
    period_start = models.DateField()
    period_end = models.DateField()
    tolerance = models.DecimalField(**MONEY, default=ZERO)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROCESSING)
    card_file = models.FileField(upload_to=card_file_path, max_length=300, blank=True)
    card_file_name = models.CharField(max_length=255, blank=True)
    card_sha256 = models.CharField(max_length=64, blank=True)
    card_row_count = models.PositiveIntegerField(default=0)
    # The card statement's import summary (SPEC §4), as the parser computed it.
    card_import_summary = models.JSONField(default=dict, blank=True)
    card_profile = models.ForeignKey(
        ImportProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closure_reason = models.TextField(blank=True)
    # Closed sessions can have their lines moved to archive storage (and restored).
    archived_at = models.DateTimeField(null=True, blank=True)
    archive_location = models.CharField(max_length=500, blank=True)
    # Which stored line matching is in effect (matching.pairing writes a new generation of
    # pairs and switches this number in the recalculation's apply).
    matching_generation = models.BigIntegerField(default=0, editable=False)
    # What that generation was paired from (matching.pairing.MatchingBasis, as JSON): the
    # next recalculation pairs again only the employees whose lines changed since.
    matching_basis = models.TextField(default="", blank=True, editable=False)
    history = HistoricalRecords(
        excluded_fields=["updated_at", "matching_generation", "matching_basis"]
    )

    class Meta:
        ordering = ["-period_start", "-id"]
        indexes = [
            models.Index(fields=["engagement", "status"], name="session_engagement_status"),
            models.Index(fields=["engagement", "-period_start"], name="session_engagement_period"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="session_period_order"
            ),
            models.CheckConstraint(
                condition=Q(tolerance__gte=0), name="session_tolerance_positive"
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | Q(closed_at__isnull=False),
                name="session_closed_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED

    @property
    def currency(self) -> str:
        """The ISO code of the session's amounts: its engagement's (SPEC §15)."""
        return self.engagement.currency

    @property
    def period_code(self) -> str:
        return f"{self.period_start:%Y-%m}"


def receipt_file_path(instance: ReceiptVersion, filename: str) -> str:
    prefix = f"v{instance.version}-{instance.sha256[:16]}"
    return f"sessions/{instance.session_id}/receipts/{prefix}-{filename}"


class ReceiptVersion(models.Model):
    """One upload of a receipts file. Versions are never deleted; a discarded preview stays."""

    class Mode(models.TextChoices):
        REPLACE = "replace", "Replace (complete report)"
        APPEND = "append", "Append (new receipts only)"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for the recalculation"
        APPLIED = "applied", "Applied"
        DISCARDED = "discarded", "Discarded"

    session = models.ForeignKey(
        ProcessingSession, on_delete=models.PROTECT, related_name="receipt_versions"
    )
    version = models.PositiveIntegerField()
    file = models.FileField(upload_to=receipt_file_path, max_length=300, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(default=0)
    row_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    # The file's import summary (SPEC §4), as the parser computed it.
    import_summary = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.REPLACE)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    note = models.TextField(blank=True)
    profile = models.ForeignKey(
        ImportProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    copied_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["session", "version"]
        constraints = [
            models.UniqueConstraint(fields=["session", "version"], name="receipt_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="receipt_version_positive"),
        ]
        indexes = [models.Index(fields=["session", "sha256"], name="receipt_version_sha")]

    def __str__(self) -> str:
        return f"{self.session} · receipts v{self.version}"


# Statement lines are bulk-loaded, half a million at a time, and never changed. Their
# references to the session and the receipts version are not per-row foreign keys
# (PostgreSQL would fire one check per row and reference: 4 s for 500k receipt lines) but
# the set-based guards of sessions_app.reference_guards (migration 0003_reference_guards). The
# composite indexes serve every lookup by session or version.


class LineParent(TypedDict):
    on_delete: Callable[..., None]
    db_constraint: bool
    db_index: bool


LINE_PARENT: Final[LineParent] = {
    "on_delete": models.CASCADE,
    "db_constraint": False,
    "db_index": False,
}


class CardTransaction(models.Model):
    session = models.ForeignKey(ProcessingSession, related_name="card_transactions", **LINE_PARENT)
    line_number = models.PositiveIntegerField()
    employee_id = models.CharField(max_length=100)
    employee_name = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(**MONEY)
    transaction_date = models.DateField(null=True, blank=True)
    merchant = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["session", "line_number"]
        indexes = [models.Index(fields=["session", "employee_id"], name="card_session_employee")]

    def __str__(self) -> str:
        return f"{self.employee_id} {self.amount}"

    @property
    def date(self):  # the parser's name, so reconciliation rules read lines of either source
        return self.transaction_date


class ReceiptLine(models.Model):
    session = models.ForeignKey(ProcessingSession, related_name="receipt_lines", **LINE_PARENT)
    receipt_version = models.ForeignKey(ReceiptVersion, related_name="lines", **LINE_PARENT)
    line_number = models.PositiveIntegerField()
    employee_id = models.CharField(max_length=100)
    employee_name = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(**MONEY)
    receipt_date = models.DateField(null=True, blank=True)
    receipt_id = models.CharField(max_length=100, blank=True)
    merchant = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["receipt_version", "line_number"]
        # One index for every query: they all name the session, most a version, some an
        # employee. Each index costs a second per million lines stored.
        indexes = [
            models.Index(
                fields=["session", "receipt_version", "employee_id"],
                name="receipt_line_lookup",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.employee_id} {self.amount}"

    @property
    def date(self):
        return self.receipt_date


class ReceiptDigest(models.Model):
    """A fingerprint of one employee's lines in one receipts version: their dates, amounts,
    receipt ids and merchants in line-number order (sessions_app.digests). Line matching
    pairs again only the employees whose fingerprints in effect changed."""

    receipt_version = models.ForeignKey(ReceiptVersion, related_name="digests", **LINE_PARENT)
    employee_id = models.CharField(max_length=100)
    lines = models.PositiveIntegerField()
    digest = models.CharField(max_length=32)

    class Meta:
        indexes = [
            models.Index(fields=["receipt_version", "employee_id"], name="receipt_digest_lookup")
        ]

    def __str__(self) -> str:
        return f"{self.employee_id} {self.digest}"


class EmployeeRevision(models.Model):
    """The per-employee result of a session. Its history IS the chain of revisions."""

    class Status(models.TextChoices):
        MATCHED = "matched", "Matched"
        MISSING_RECEIPTS = "missing_receipts", "Missing receipts"
        EXCESS_RECEIPTS = "excess_receipts", "Excess receipts"
        NO_CARD_ACTIVITY = "no_card_activity", "No card activity"
        RESOLVED = "resolved", "Resolved"

    EXPORT_READY = (Status.MATCHED, Status.RESOLVED)

    # Guarded per statement (sessions_app.reference_guards): a recalculation writes 100k
    # revisions at once. The unique (session, employee_id) index serves lookups by session.
    session = models.ForeignKey(
        ProcessingSession,
        on_delete=models.PROTECT,
        related_name="revisions",
        db_constraint=False,
        db_index=False,
    )
    employee_id = models.CharField(max_length=100)
    employee_name = models.CharField(max_length=200, blank=True)
    car_amount = models.DecimalField(**MONEY, default=ZERO)
    receipt_amount = models.DecimalField(**MONEY, default=ZERO)
    difference = models.DecimalField(**MONEY, default=ZERO)
    status = models.CharField(max_length=20, choices=Status.choices)
    has_card_lines = models.BooleanField(default=True)
    previous_car_amount = models.DecimalField(**MONEY, null=True, blank=True)
    previous_receipt_amount = models.DecimalField(**MONEY, null=True, blank=True)
    amount_changed = models.BooleanField(default=False)
    receipt_version_processed = models.PositiveIntegerField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The export snapshot: what pVault holds for this employee.
    exported_car_amount = models.DecimalField(**MONEY, null=True, blank=True)
    exported_receipt_amount = models.DecimalField(**MONEY, null=True, blank=True)
    # No single-column index: nothing looks revisions up by batch (export lines do that), and
    # every export rewrites this column for up to 100k rows; for the same reason not a per-row
    # foreign key but a guard checking each statement's batches at once (migration
    # 0005_revision_last_export_batch_guard).
    last_export_batch = models.ForeignKey(
        "exports.ExportBatch",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    exported_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
    # History is read per revision (`id`) and by date; the foreign-key indexes of the history
    # table would only slow down the bulk history writes of every recalculation and export.
    # Its user is guarded per statement (sessions_app.reference_guards), as their session.
    history = HistoricalRecords(
        excluded_fields=["updated_at"],
        no_db_index=["session", "resolved_by", "last_export_batch"],
        user_db_constraint=False,
    )

    class Meta:
        ordering = ["session", "employee_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "employee_id"], name="revision_unique_employee"
            ),
            models.CheckConstraint(
                condition=~Q(status="resolved") | ~Q(resolution_note=""),
                name="revision_resolution_has_note",
            ),
            models.CheckConstraint(
                condition=Q(exported_car_amount__isnull=True)
                | Q(exported_receipt_amount__isnull=False),
                name="revision_export_snapshot_whole",
            ),
        ]
        indexes = [
            models.Index(fields=["session", "status"], name="revision_session_status"),
        ]

    def __str__(self) -> str:
        return f"{self.employee_id} ({self.status})"

    @property
    def is_export_ready(self) -> bool:
        return self.status in self.EXPORT_READY

    @property
    def is_resolvable(self) -> bool:
        """An exception an operator may resolve (or re-resolve with a new note); a matched
        employee has nothing to resolve. The service and the page both ask this."""
        return not self.is_export_ready or self.status == self.Status.RESOLVED

    @property
    def change(self) -> str:
        """new / changed / unchanged / not_ready relative to the pVault export snapshot."""
        if not self.is_export_ready:
            return "not_ready"
        if self.exported_car_amount is None:
            return "new"
        if (self.car_amount, self.receipt_amount) != (
            self.exported_car_amount,
            self.exported_receipt_amount,
        ):
            return "changed"
        return "unchanged"
