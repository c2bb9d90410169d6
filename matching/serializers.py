"""The API's shapes for SPEC §13's lines view, match, unmatch and chase list."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from matching.models import Rule
from matching.selectors import EmployeeLines, LineView

MONEY = {"max_digits": 14, "decimal_places": 2}


class LineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    line_number = serializers.IntegerField()
    date = serializers.DateField(allow_null=True)
    merchant = serializers.CharField()
    receipt_id = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)
    version = serializers.IntegerField(allow_null=True, help_text="Receipts version (receipts)")


class PairSerializer(serializers.Serializer):
    card_line = LineSerializer()
    receipt_line = LineSerializer()
    rule = serializers.ChoiceField(choices=Rule.choices)
    matched_by = serializers.CharField(allow_null=True)
    note = serializers.CharField()


class EmployeeLinesSerializer(serializers.Serializer):
    employee_id = serializers.CharField()
    version = serializers.IntegerField(
        help_text="Send it back with match/unmatch: a stale one is refused (409)."
    )
    pairs = PairSerializer(many=True)
    unmatched_card_lines = LineSerializer(many=True)
    unmatched_receipt_lines = LineSerializer(many=True)
    unmatched_card_amount = serializers.DecimalField(**MONEY)
    unmatched_receipt_amount = serializers.DecimalField(**MONEY)
    explanation = serializers.CharField()

    def to_representation(self, instance: EmployeeLines) -> dict[str, Any]:
        def line(view: LineView) -> dict[str, Any]:
            return LineSerializer(view.as_dict()).data

        return {
            "employee_id": instance.employee_id,
            "version": instance.version,
            "pairs": [
                {
                    "card_line": line(p.card_line),
                    "receipt_line": line(p.receipt_line),
                    "rule": p.rule,
                    "matched_by": p.matched_by,
                    "note": p.note,
                }
                for p in instance.pairs
            ],
            "unmatched_card_lines": [line(v) for v in instance.unmatched_card_lines],
            "unmatched_receipt_lines": [line(v) for v in instance.unmatched_receipt_lines],
            "unmatched_card_amount": f"{instance.unmatched_card_amount:.2f}",
            "unmatched_receipt_amount": f"{instance.unmatched_receipt_amount:.2f}",
            "explanation": instance.explanation,
        }


class MatchSerializer(serializers.Serializer):
    card_line = serializers.IntegerField()
    receipt_line = serializers.IntegerField()
    note = serializers.CharField(max_length=2000)
    version = serializers.IntegerField(required=False, min_value=0)


class UnmatchSerializer(serializers.Serializer):
    card_line = serializers.IntegerField()
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    version = serializers.IntegerField(required=False, min_value=0)


class ChaseQuerySerializer(serializers.Serializer):
    employee = serializers.CharField(required=False, help_text="One employee id")
    search = serializers.CharField(required=False, help_text="Employee id, name or merchant")
    format = serializers.ChoiceField(choices=["json", "csv"], required=False)


class UnmatchedChargeSerializer(serializers.Serializer):
    employee_id = serializers.CharField()
    employee_name = serializers.CharField(allow_null=True)
    card_line = serializers.IntegerField(source="line_id")
    line_number = serializers.IntegerField()
    date = serializers.DateField(allow_null=True)
    merchant = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)
