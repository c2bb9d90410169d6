"""The analytics answer of GET /api/v1/analytics/sessions/ (also its OpenAPI schema)."""

from __future__ import annotations

from rest_framework import serializers

from core.dates import validate_calendar_date

MONEY = {"max_digits": 16, "decimal_places": 2}
RATE = {"max_digits": 6, "decimal_places": 1}


class AnalyticsQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(
        required=False, help_text="First day, inclusive.", validators=[validate_calendar_date]
    )
    date_to = serializers.DateField(
        required=False, help_text="Last day, inclusive.", validators=[validate_calendar_date]
    )

    def validate(self, attrs: dict) -> dict:
        start, end = attrs.get("date_from"), attrs.get("date_to")
        if start and end and end < start:
            raise serializers.ValidationError({"date_to": ["The range ends before it starts."]})
        return attrs


class StatusCountSerializer(serializers.Serializer):
    status = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class SessionExceptionRateSerializer(serializers.Serializer):
    session_id = serializers.IntegerField()
    session = serializers.CharField()
    engagement = serializers.CharField()
    employees = serializers.IntegerField()
    exceptions = serializers.IntegerField()
    rate_percent = serializers.DecimalField(**RATE)
    unmatched_charges = serializers.IntegerField(help_text="Card lines without a receipt")
    unmatched_charges_amount = serializers.DecimalField(**MONEY)


class ExceptionRateSerializer(serializers.Serializer):
    employees = serializers.IntegerField()
    exceptions = serializers.IntegerField()
    rate_percent = serializers.DecimalField(**RATE)
    unmatched_charges = serializers.IntegerField()
    unmatched_charges_amount = serializers.DecimalField(**MONEY)
    sessions = SessionExceptionRateSerializer(many=True)


class ExportWeekSerializer(serializers.Serializer):
    week_start = serializers.DateField(help_text="Monday of the ISO week.")
    pvault_batches = serializers.IntegerField()
    exceptions_batches = serializers.IntegerField()
    void_batches = serializers.IntegerField()
    employees_exported = serializers.IntegerField()
    amount_exported = serializers.DecimalField(**MONEY)
    net_adjustment = serializers.DecimalField(**MONEY)


class SessionFirstExportSerializer(serializers.Serializer):
    session_id = serializers.IntegerField()
    session = serializers.CharField()
    engagement = serializers.CharField()
    created_at = serializers.DateTimeField()
    first_export_at = serializers.DateTimeField(allow_null=True)
    hours = serializers.DecimalField(max_digits=12, decimal_places=1, allow_null=True)


class TimeToFirstExportSerializer(serializers.Serializer):
    exported_sessions = serializers.IntegerField()
    not_exported = serializers.IntegerField()
    average_hours = serializers.DecimalField(max_digits=12, decimal_places=1, allow_null=True)
    median_hours = serializers.DecimalField(max_digits=12, decimal_places=1, allow_null=True)
    max_hours = serializers.DecimalField(max_digits=12, decimal_places=1, allow_null=True)
    sessions = SessionFirstExportSerializer(many=True)


class OperatorActivitySerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    events = serializers.IntegerField()
    sessions_created = serializers.IntegerField()
    receipts_uploaded = serializers.IntegerField()
    exports_generated = serializers.IntegerField()
    employees_resolved = serializers.IntegerField()
    sessions_closed = serializers.IntegerField()
    last_activity = serializers.DateTimeField()


class SessionAnalyticsSerializer(serializers.Serializer):
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField(allow_null=True)
    sessions_by_status = StatusCountSerializer(many=True)
    exception_rate = ExceptionRateSerializer()
    exports_per_week = ExportWeekSerializer(many=True)
    time_to_first_export = TimeToFirstExportSerializer()
    operator_activity = OperatorActivitySerializer(many=True)
