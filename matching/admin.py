"""Pairs, unmatched lines and operator decisions, read-only: they are written by the
recalculation and by the match / unmatch services only."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.admin_actions import ReadOnlyAdminMixin
from matching.models import LinePair, ManualDecision, StoredMatchingQuerySet, UnmatchedLine


class BulkRowsAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Half a million rows a session: no full count on every filter change."""

    list_select_related = ["session"]
    show_full_result_count = False
    list_per_page = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """The matching in effect: not the rows a recalculation replaced and keeps for a while."""
        rows = cast(StoredMatchingQuerySet, super().get_queryset(request))
        return rows.in_effect()


@admin.register(LinePair)
class LinePairAdmin(BulkRowsAdmin):
    list_display = [
        "session", "employee_id", "card_line_id", "receipt_ordinal", "receipt_line_id", "rule",
    ]  # fmt: skip
    list_filter = ["rule", "session__engagement", "session"]
    search_fields = ["employee_id"]


@admin.register(UnmatchedLine)
class UnmatchedLineAdmin(BulkRowsAdmin):
    list_display = [
        "session",
        "employee_id",
        "side",
        "line_number",
        "version",
        "date",
        "merchant",
        "receipt_id",
        "amount",
        "held",
    ]
    list_filter = ["side", "held", "session__engagement", "session"]
    search_fields = ["employee_id", "merchant", "receipt_id"]


@admin.register(ManualDecision)
class ManualDecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "session",
        "employee_id",
        "kind",
        "card_amount",
        "receipt_amount",
        "receipt_ref",
        "note",
        "decided_by",
        "decided_at",
        "ended_at",
        "ended_reason",
    ]
    list_filter = ["kind", "session__engagement", "decided_at"]
    search_fields = ["employee_id", "note", "receipt_ref"]
    list_select_related = ["session", "decided_by"]
    date_hierarchy = "decided_at"
