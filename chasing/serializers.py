from __future__ import annotations

from typing import Any

from rest_framework import serializers

from chasing.models import EmployeeContact, ReportSubscription

MONEY = {"max_digits": 14, "decimal_places": 2}


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmployeeContact
        fields = ["employee_id", "email", "manager_email", "updated_at"]


class ContactImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV or XLSX: employee_id, email, manager_email")


class ContactImportSummarySerializer(serializers.Serializer):
    rows_read = serializers.IntegerField()
    blank_rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    contacts = serializers.IntegerField(help_text="Contacts of the engagement after the load")
    file_format = serializers.CharField()


class ReminderInputSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False)
    force = serializers.BooleanField(
        default=False, help_text="Ask again even within the quiet period"
    )
    employee_ids = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, allow_empty=False
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ChargeSerializer(serializers.Serializer):
    card_line = serializers.IntegerField()
    line_number = serializers.IntegerField()
    date = serializers.DateField(allow_null=True)
    merchant = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)


class RecipientSerializer(serializers.Serializer):
    employee_id = serializers.CharField()
    employee_name = serializers.CharField()
    email = serializers.EmailField()
    charges = ChargeSerializer(many=True)
    amount = serializers.DecimalField(**MONEY)


class SkippedSerializer(serializers.Serializer):
    employee_id = serializers.CharField()
    employee_name = serializers.CharField()
    reason = serializers.ChoiceField(choices=["no_contact", "recent"])
    charges = serializers.IntegerField()
    amount = serializers.DecimalField(**MONEY)
    last_asked_at = serializers.DateTimeField(allow_null=True)


class ReminderOutcomeSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    sent = serializers.IntegerField(help_text="Emails queued (or, in a dry run, that would be)")
    skipped_no_contact = serializers.ListField(
        child=serializers.CharField(), help_text="Employee ids without an email in the directory"
    )
    skipped_recent = serializers.ListField(
        child=serializers.CharField(),
        help_text="Employee ids already asked for the same charges within the quiet period",
    )
    skipped = SkippedSerializer(many=True, help_text="Every skipped employee and why")
    recipients = RecipientSerializer(many=True)
    amount = serializers.DecimalField(**MONEY)


class ReportSubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportSubscription
        fields = ["id", "email", "frequency", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs: dict[str, dict[str, Any]] = {"email": {"validators": []}}
