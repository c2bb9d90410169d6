"""API shapes of recalculation jobs."""

from __future__ import annotations

from rest_framework import serializers

from recalc.models import RecalcJob


class RecalcJobSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(
        read_only=True, min_value=0, max_value=1, help_text="A display fraction from 0 to 1."
    )
    errors = serializers.ListField(child=serializers.JSONField(), read_only=True)
    receipt_version = serializers.SlugRelatedField(
        allow_null=True,
        slug_field="version",
        read_only=True,
        help_text="The receipts version it applies.",
    )
    url = serializers.SerializerMethodField()
    events_url = serializers.SerializerMethodField()

    class Meta:
        model = RecalcJob
        fields = [
            "id",
            "session",
            "kind",
            "status",
            "preview",
            "receipt_version",
            "stage",
            "stage_name",
            "progress",
            "processed",
            "total",
            "message",
            "errors",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
            "url",
            "events_url",
        ]
        read_only_fields = fields

    def get_url(self, job: RecalcJob) -> str:
        return f"/api/v1/jobs/{job.pk}/"

    def get_events_url(self, job: RecalcJob) -> str:
        return f"/api/v1/jobs/{job.pk}/events/"


class DiffCountsSerializer(serializers.Serializer):
    new = serializers.IntegerField()
    changed = serializers.IntegerField()
    removed = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class DiffEmployeeSerializer(serializers.Serializer):
    """One employee of a preview: old → new amounts and their deltas (money as strings)."""

    employee_id = serializers.CharField()
    employee_name = serializers.CharField(allow_blank=True)
    change = serializers.ChoiceField(choices=["new", "changed", "removed"])
    old_car_amount = serializers.CharField(allow_null=True)
    new_car_amount = serializers.CharField()
    old_receipt_amount = serializers.CharField(allow_null=True)
    new_receipt_amount = serializers.CharField()
    delta_car_amount = serializers.CharField()
    delta_receipt_amount = serializers.CharField()
    old_status = serializers.CharField(allow_null=True)
    new_status = serializers.CharField()


class NextDeltaExportSerializer(serializers.Serializer):
    new = serializers.IntegerField()
    changed = serializers.IntegerField()
    total_amount = serializers.CharField()
    employee_ids = serializers.ListField(child=serializers.CharField())


class PairsChangeSerializer(serializers.Serializer):
    """SPEC §14: how a preview would change an employee's pairs (lines as "date text
    amount", pairs as "card ↔ receipt (rule)")."""

    employee_id = serializers.CharField()
    pairs_added = serializers.ListField(child=serializers.CharField())
    pairs_removed = serializers.ListField(child=serializers.CharField())
    unmatched_charges_before = serializers.IntegerField()
    unmatched_charges_after = serializers.IntegerField()
    unmatched_amount_before = serializers.DecimalField(max_digits=14, decimal_places=2)
    unmatched_amount_after = serializers.DecimalField(max_digits=14, decimal_places=2)


class RecalcJobDiffSerializer(serializers.Serializer):
    job = RecalcJobSerializer()
    counts = DiffCountsSerializer(allow_null=True)
    employees = DiffEmployeeSerializer(many=True)
    next_delta_export = NextDeltaExportSerializer(allow_null=True)
    pairs = PairsChangeSerializer(many=True)


class JobEventSerializer(serializers.Serializer):
    """One event of the job's stream, as an SSE client reads it."""

    event = serializers.ChoiceField(choices=["progress", "complete", "error"])
    data = serializers.CharField(
        help_text="JSON. progress: status, stage, stage_name, progress, processed, total, "
        "message. complete / error: the job."
    )
