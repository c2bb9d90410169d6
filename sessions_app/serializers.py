"""API shapes of the sessions domain: what requests may carry, what answers say.

Input serializers only parse and type the request; every rule (periods, tolerances,
closed sessions, duplicates, file contents) belongs to the services they feed."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.dates import validate_calendar_date
from recalc.serializers import RecalcJobSerializer
from sessions_app.models import (
    MONEY,
    EmployeeRevision,
    ImportProfile,
    ProcessingSession,
    ReceiptVersion,
)

NAME_MAX = 200
NOTE_MAX = 2000
BULK_MAX = 500


def money_field(**kwargs: Any) -> serializers.DecimalField:
    """Amounts travel as strings with two decimals ("155.75"): Decimal end to end."""
    return serializers.DecimalField(**MONEY, **kwargs)


class JobLinkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.CharField()


def job_link(job_id: int | None, status: str | None) -> dict[str, Any] | None:
    if job_id is None:
        return None
    return {"id": job_id, "status": status, "url": f"/api/v1/jobs/{job_id}/"}


# --- Sessions ---------------------------------------------------------------------------------


class ImportSummarySerializer(serializers.Serializer):
    """What the parser found in a file (SPEC §4); amounts are strings with two places."""

    lines_read = serializers.IntegerField()
    employees = serializers.IntegerField()
    total_amount = serializers.CharField()
    blank_rows = serializers.IntegerField()
    summary_rows = serializers.IntegerField()
    summary_rows_agreeing = serializers.IntegerField()
    summary_rows_not_agreeing = serializers.IntegerField()
    control_total = serializers.CharField(allow_null=True)
    unassigned_lines = serializers.IntegerField(
        help_text="Lines of charges without an employee id, booked to the profile's "
        "unassigned_employee_id."
    )
    warnings = serializers.ListField(child=serializers.CharField(), help_text="The first 50.")
    warning_count = serializers.IntegerField()


@extend_schema_field(ImportSummarySerializer)
class ImportSummaryField(serializers.JSONField):
    """The stored summary as it is ({} for files stored before summaries were kept)."""


class SessionSerializer(serializers.ModelSerializer):
    """A session row as `session_list_for_user` annotates it (plus its active job)."""

    engagement = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tolerance = money_field(read_only=True)
    receipt_file_versions = serializers.SerializerMethodField(
        help_text="The latest receipts version number (0: none uploaded yet)."
    )
    last_receipt_upload = serializers.DateTimeField(read_only=True, allow_null=True)
    employee_count = serializers.IntegerField(read_only=True)
    matched_count = serializers.IntegerField(
        read_only=True, help_text="Export-ready employees (matched or resolved)."
    )
    exception_count = serializers.SerializerMethodField()
    export_count = serializers.SerializerMethodField(help_text="Non-void export batches.")
    last_export_at = serializers.DateTimeField(read_only=True, allow_null=True)
    active_job = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(
        allow_null=True, slug_field="username", read_only=True
    )
    card_import_summary = ImportSummaryField(
        read_only=True, help_text="The import summary of the card statement in place."
    )

    class Meta:
        model = ProcessingSession
        fields = [
            "id",
            "engagement",
            "name",
            "period_start",
            "period_end",
            "tolerance",
            "status",
            "receipt_file_versions",
            "last_receipt_upload",
            "employee_count",
            "matched_count",
            "exception_count",
            "export_count",
            "last_export_at",
            "active_job",
            "created_by",
            "created_at",
            "closed_at",
            "closure_reason",
            "card_import_summary",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_receipt_file_versions(self, session: ProcessingSession) -> int:
        return getattr(session, "receipt_file_versions", None) or 0

    @extend_schema_field(OpenApiTypes.INT)
    def get_exception_count(self, session: ProcessingSession) -> int:
        return (session.employee_count or 0) - (session.matched_count or 0)  # type: ignore[attr-defined]

    @extend_schema_field(OpenApiTypes.INT)
    def get_export_count(self, session: ProcessingSession) -> int:
        return getattr(session, "export_count", None) or 0

    @extend_schema_field(JobLinkSerializer(allow_null=True))
    def get_active_job(self, session: ProcessingSession) -> dict[str, Any] | None:
        return job_link(
            getattr(session, "active_job_id", None), getattr(session, "active_job_status", None)
        )


class SessionListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=ProcessingSession.Status.choices, required=False, allow_blank=True
    )
    # A slug (ASCII letters, digits, - and _): also what keeps "²" from passing for an id.
    engagement = serializers.SlugField(
        required=False, allow_blank=True, max_length=200, help_text="Engagement id or slug."
    )
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="In session or engagement name."
    )


class SessionCreateSerializer(serializers.Serializer):
    engagement = serializers.SlugField(max_length=200, help_text="Engagement id or slug.")
    name = serializers.CharField(max_length=NAME_MAX)
    period_start = serializers.DateField(validators=[validate_calendar_date])
    period_end = serializers.DateField(validators=[validate_calendar_date])
    tolerance = money_field(min_value=0, required=False, default="0.00")
    card_file = serializers.FileField(help_text="The card activity report (CSV or XLSX).")
    card_profile = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Import profile name."
    )
    receipts_file = serializers.FileField(required=False, help_text="A first receipts report.")
    receipts_profile = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Import profile name."
    )


class SessionUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX, required=False)
    tolerance = money_field(min_value=0, required=False)


class SessionCloseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=NOTE_MAX)
    close_anyway = serializers.BooleanField(
        default=False,
        help_text="Close although export-ready employees are not in pVault or a job runs "
        "(409 unexported_employees / job_active otherwise); recorded with the reason.",
    )


class SessionBulkCloseSerializer(serializers.Serializer):
    session_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=BULK_MAX
    )
    reason = serializers.CharField(max_length=NOTE_MAX)
    close_anyway = serializers.BooleanField(
        default=False, help_text="As for one session's close: the reason to close anyway."
    )


class CardReplaceSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The corrected card activity report (CSV or XLSX).")
    profile = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Import profile name."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX, default="")
    force = serializers.BooleanField(
        default=False, help_text="Replace even with a file identical to the current statement."
    )


class SessionAndJobSerializer(serializers.Serializer):
    session = SessionSerializer()
    job = RecalcJobSerializer()


class BulkResultSerializer(serializers.Serializer):
    session_id = serializers.IntegerField()
    ok = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)


class BulkResultsSerializer(serializers.Serializer):
    results = BulkResultSerializer(many=True)


# --- Receipts -----------------------------------------------------------------------------------


class ReceiptVersionSerializer(serializers.ModelSerializer):
    profile = serializers.SlugRelatedField(allow_null=True, slug_field="name", read_only=True)
    copied_from = serializers.SlugRelatedField(
        allow_null=True,
        slug_field="version",
        read_only=True,
        help_text="For a rollback: the version copied.",
    )
    uploaded_by = serializers.SlugRelatedField(
        allow_null=True, slug_field="username", read_only=True
    )
    import_summary = ImportSummaryField(read_only=True)

    class Meta:
        model = ReceiptVersion
        fields = [
            "id",
            "version",
            "file_name",
            "sha256",
            "size",
            "row_count",
            "duplicate_count",
            "import_summary",
            "mode",
            "state",
            "note",
            "profile",
            "copied_from",
            "uploaded_by",
            "uploaded_at",
        ]
        read_only_fields = fields


class VersionAndJobSerializer(serializers.Serializer):
    version = ReceiptVersionSerializer()
    job = RecalcJobSerializer(allow_null=True)


class ReceiptUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The receipts report (CSV or XLSX).")
    mode = serializers.ChoiceField(
        choices=ReceiptVersion.Mode.choices, default=ReceiptVersion.Mode.REPLACE
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX, default="")
    force = serializers.BooleanField(
        default=False, help_text="Store it even if identical to an earlier version."
    )
    preview = serializers.BooleanField(
        default=False, help_text="Stop before applying; apply or discard the job later."
    )
    profile = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Import profile name."
    )


class ReceiptReapplySerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX, default="")


# --- Employees ----------------------------------------------------------------------------------


CHANGE_KINDS = ("new", "changed", "unchanged", "not_ready")


class EmployeeRevisionSerializer(serializers.ModelSerializer):
    car_amount = money_field(read_only=True)
    receipt_amount = money_field(read_only=True)
    difference = money_field(read_only=True)
    previous_car_amount = money_field(read_only=True, allow_null=True)
    previous_receipt_amount = money_field(read_only=True, allow_null=True)
    change = serializers.SerializerMethodField()
    exported_amount = money_field(source="exported_car_amount", read_only=True, allow_null=True)
    last_export_batch = serializers.SlugRelatedField(
        allow_null=True, slug_field="batch_code", read_only=True
    )
    resolved_by = serializers.SlugRelatedField(
        allow_null=True, slug_field="username", read_only=True
    )

    class Meta:
        model = EmployeeRevision
        fields = [
            "employee_id",
            "employee_name",
            "car_amount",
            "receipt_amount",
            "difference",
            "status",
            "change",
            "previous_car_amount",
            "previous_receipt_amount",
            "amount_changed",
            "receipt_version_processed",
            "exported_amount",
            "last_export_batch",
            "exported_at",
            "resolution_note",
            "resolved_by",
            "resolved_at",
            "version",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=CHANGE_KINDS))
    def get_change(self, revision: EmployeeRevision) -> str:
        # The SQL annotation when the list computed it, else the model's own definition.
        return getattr(revision, "change_kind", None) or revision.change


class EmployeeListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=EmployeeRevision.Status.choices, required=False, allow_blank=True
    )
    change = serializers.ChoiceField(choices=CHANGE_KINDS, required=False, allow_blank=True)
    exported = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Ever exported to pVault."
    )
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Employee id or name."
    )


class EmployeeResolveSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["resolve"])
    note = serializers.CharField(max_length=NOTE_MAX)
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, help_text="The revision version you saw."
    )


# --- Me, import profiles ------------------------------------------------------------------------


class MembershipSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField()


class CurrentSessionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    engagement = serializers.CharField()
    status = serializers.CharField()


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    is_staff = serializers.BooleanField()


class MeSerializer(serializers.Serializer):
    user = UserSummarySerializer()
    engagements = MembershipSummarySerializer(many=True)
    default_engagement = serializers.CharField(allow_null=True, help_text="Its slug.")
    current_session = CurrentSessionSerializer(allow_null=True)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "maxLength": 200},
            {"type": "array", "items": {"type": "string", "maxLength": 200}, "maxItems": 20},
        ]
    }
)
class ImportProfileHeaderField(serializers.JSONField):
    """One header, or a list of alternatives (the first found in the file wins)."""


class ImportProfileColumnsSerializer(serializers.Serializer):
    """Which header of the file holds each role; leave a role out to detect it. Each may
    be a list of alternative headers, e.g. ["Division", "Divison"]."""

    employee_id = ImportProfileHeaderField(required=False)
    employee_name = ImportProfileHeaderField(required=False)
    amount = ImportProfileHeaderField(required=False)
    date = ImportProfileHeaderField(required=False)
    merchant = ImportProfileHeaderField(required=False)
    receipt_id = ImportProfileHeaderField(required=False)
    currency = ImportProfileHeaderField(required=False)


@extend_schema_field(ImportProfileColumnsSerializer)
class ImportProfileColumnsField(serializers.DictField):
    """Passed through as given: the parser's own settings check names unknown roles and
    values that are neither a header nor a list of headers."""

    child = serializers.JSONField()

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        for header in value.values():
            texts = header if isinstance(header, list) else [header]
            if len(texts) > 20 or any(isinstance(t, str) and len(t) > 200 for t in texts):
                raise serializers.ValidationError(
                    "Each column is a header of at most 200 characters, or a list of at most "
                    "20 of them."
                )
        return value


class ImportProfileSerializer(serializers.ModelSerializer):
    columns = ImportProfileColumnsField(read_only=True)
    # As stored: an empty value means "detect it".
    delimiter = serializers.CharField(read_only=True)
    encoding = serializers.CharField(read_only=True)
    decimal_separator = serializers.CharField(read_only=True)
    date_format = serializers.CharField(read_only=True)
    created_by = serializers.SlugRelatedField(
        allow_null=True, slug_field="username", read_only=True
    )

    class Meta:
        model = ImportProfile
        fields = [
            "id",
            "name",
            "delimiter",
            "encoding",
            "skip_lines",
            "columns",
            "decimal_separator",
            "date_format",
            "charges_negative",
            "unassigned_employee_id",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ImportProfileInputSerializer(serializers.Serializer):
    """Typed strings only: import_profile_save checks the values as the parser reads them."""

    name = serializers.CharField(max_length=100)
    delimiter = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,  # a tab is a delimiter
        max_length=10,
        default="",
        help_text="Empty: detect. One of , ; tab | (or comma, semicolon, tab, pipe).",
    )
    encoding = serializers.CharField(
        required=False, allow_blank=True, max_length=30, default="", help_text="Empty: detect."
    )
    skip_lines = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=1000, default=None
    )
    columns = ImportProfileColumnsField(required=False, default=dict)
    decimal_separator = serializers.CharField(
        required=False, allow_blank=True, max_length=10, default="", help_text="'.' or ','."
    )
    date_format = serializers.CharField(
        required=False, allow_blank=True, max_length=30, default="", help_text="e.g. dd/mm/yy"
    )
    charges_negative = serializers.BooleanField(required=False, default=False)
    unassigned_employee_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        default="",
        help_text="Employee id for charges whose employee id is blank, e.g. UNASSIGNED "
        "(empty: such a charge is an error).",
    )
