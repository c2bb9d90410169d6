"""API shapes of exports: batches, previews, the change summary and the proof."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from exports.models import ExportBatch
from sessions_app.serializers import BULK_MAX, NOTE_MAX, EmployeeRevisionSerializer, money_field

EXPORT_TYPES = ExportBatch.ExportType.choices
IDEMPOTENCY_KEY_MAX = 100


class WarningSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(allow_null=True)


class ExportBatchSerializer(serializers.ModelSerializer):
    total_amount = money_field(read_only=True)
    exported_by = serializers.SlugRelatedField(
        allow_null=True, slug_field="username", read_only=True
    )
    voided_by = serializers.SlugRelatedField(allow_null=True, slug_field="username", read_only=True)
    download_url = serializers.SerializerMethodField()
    warnings = WarningSerializer(many=True, read_only=True)

    class Meta:
        model = ExportBatch
        fields = [
            "id",
            "session",
            "batch_code",
            "export_type",
            "delta_only",
            "mark_as_exported",
            "marked_at",
            "status",
            "employee_count",
            "total_amount",
            "file_format",
            "file_size",
            "sha256",
            "reason",
            "exported_by",
            "created_at",
            "download_url",
            "warnings",
            "voided_by",
            "voided_at",
            "void_reason",
        ]
        read_only_fields = fields

    def get_download_url(self, batch: ExportBatch) -> str:
        return f"/api/v1/exports/{batch.pk}/download/"


class ExportCreateSerializer(serializers.Serializer):
    export_type = serializers.ChoiceField(choices=EXPORT_TYPES)
    delta_only = serializers.BooleanField(
        default=True, help_text="New and changed employees only (the recommended default)."
    )
    mark_as_exported = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Update the export snapshots; default true for pvault, false for exceptions.",
    )
    confirm = serializers.BooleanField(
        default=False, help_text="Needed (with a reason) to send already-exported employees."
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=NOTE_MAX, default=""
    )
    file_format = serializers.ChoiceField(
        choices=["csv", "xlsx"], default="csv", help_text="xlsx for exceptions reports only."
    )


class ExportPreviewQuerySerializer(serializers.Serializer):
    include_exported = serializers.BooleanField(
        default=False, help_text="Scope `all`: include employees already exported."
    )


class AlreadyExportedBatchSerializer(serializers.Serializer):
    batch_code = serializers.CharField(allow_null=True)
    employee_count = serializers.IntegerField()


class ExportPreviewSerializer(serializers.Serializer):
    export_type = serializers.CharField()
    delta_only = serializers.BooleanField()
    new_count = serializers.IntegerField()
    changed_count = serializers.IntegerField()
    already_exported_count = serializers.IntegerField(
        help_text="Included when the scope is all, excluded when it is delta."
    )
    employee_count = serializers.IntegerField()
    total_amount = money_field()
    warnings = WarningSerializer(many=True)
    blocking = WarningSerializer(many=True, help_text="Warnings that stop a generation.")
    employees = EmployeeRevisionSerializer(many=True)
    employees_truncated = serializers.BooleanField(
        help_text="`employees` lists the first rows only; the counts are complete."
    )
    already_exported_batches = AlreadyExportedBatchSerializer(many=True)

    def to_representation(self, preview: Any) -> dict[str, Any]:
        # The preview is a dataclass whose later fields may not exist in older engines.
        preview.blocking = getattr(preview, "blocking", [])
        preview.employees_truncated = getattr(preview, "employees_truncated", False)
        return super().to_representation(preview)


class ChangeAmountsSerializer(serializers.Serializer):
    new = money_field()
    changed = money_field()
    unchanged = money_field()
    not_ready = money_field()
    total = money_field()


class ChangeSummarySerializer(serializers.Serializer):
    new = serializers.IntegerField()
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    not_ready = serializers.IntegerField()
    total = serializers.IntegerField()
    amounts = ChangeAmountsSerializer(help_text="Card totals per kind.")


class SessionProofSerializer(serializers.Serializer):
    statement_total = money_field()
    exported = money_field()
    pending = money_field()
    exceptions = money_field()
    balanced = serializers.BooleanField()
    difference = money_field()
    offending_employees = serializers.ListField(child=serializers.CharField())


class ExportVoidSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=NOTE_MAX)


class MarkExportedSerializer(serializers.Serializer):
    batch_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    employee_ids = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, allow_null=True, default=None
    )


class MarkExportedResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="Employees whose export snapshot was updated.")
    batch = ExportBatchSerializer()


class BulkExportSerializer(serializers.Serializer):
    session_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=BULK_MAX,
    )
    export_type = serializers.ChoiceField(choices=EXPORT_TYPES, default="pvault")
    delta_only = serializers.BooleanField(default=True)
