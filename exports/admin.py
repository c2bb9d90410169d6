"""Export batches and lines in the admin: read-only (they are what pVault received), with
download, void (asks for a reason) and verify, each through the exports services."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from audit.admin_actions import (
    ItemOutcome,
    ReadOnlyAdminMixin,
    outcome_of,
    reason_confirmation,
    report_outcomes,
)
from core.admin import SafeLookupsMixin
from core.errors import DomainError
from core.money import format_money, money_column
from exports.integrity import export_files_verify
from exports.models import ExportBatch, ExportLine
from exports.selectors import batch_lines
from exports.services import export_batch_file, export_batch_void, export_file_name
from exports.writers import content_type_for


@admin.register(ExportBatch)
class ExportBatchAdmin(SafeLookupsMixin, ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "batch_code",
        "session",
        "export_type",
        "delta_only",
        "status",
        "employee_count",
        money_column("total_amount", "Total"),
        "exported_by",
        "created_at",
        "voided_at",
        "download_link",
    ]
    list_filter = ["export_type", "status", "delta_only", "session__engagement", "created_at"]
    search_fields = ["batch_code", "session__name", "sha256", "reason", "void_reason"]
    date_hierarchy = "created_at"
    list_select_related = ["session", "exported_by"]
    history_list_display = ["status"]
    actions = ["void", "verify"]

    def get_urls(self) -> list[Any]:
        download = path(
            "<int:pk>/download/",
            self.admin_site.admin_view(self.download_view),
            name="exports_exportbatch_download",
        )
        return [download, *super().get_urls()]

    @admin.display(description="File")
    def download_link(self, obj: ExportBatch) -> str:
        url = reverse("admin:exports_exportbatch_download", args=[obj.pk])
        return format_html('<a href="{}">download</a>', url)

    def download_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The stored bytes, hash-verified, with an export_downloaded event (same service
        as the page and the API)."""
        batch = get_object_or_404(ExportBatch.objects.select_related("session"), pk=pk)
        if not self.has_view_permission(request, batch):
            return HttpResponse(status=403)
        try:
            data = export_batch_file(batch=batch, actor=request.user)
        except DomainError as exc:
            self.message_user(request, f"{batch}: {exc.message}", messages.ERROR)
            return redirect("admin:exports_exportbatch_changelist")
        response = HttpResponse(data, content_type=content_type_for(batch.file_format))
        response["Content-Disposition"] = f'attachment; filename="{export_file_name(batch)}"'
        return response

    @admin.action(description="Void selected batches (asks for a reason)")
    def void(self, request: HttpRequest, queryset: QuerySet[ExportBatch]) -> HttpResponse | None:
        batches = list(queryset.select_related("session").order_by("-pk"))
        already_void = [batch for batch in batches if batch.is_void]

        def apply(reason: str) -> None:
            outcomes = []
            # Newest first: a batch can only be voided once the later ones sharing its
            # employees are void, so this order lets a whole run of batches be taken back.
            for batch in batches:
                outcomes.append(
                    outcome_of(
                        str(batch),
                        partial(export_batch_void, batch=batch, reason=reason, actor=request.user),
                        "voided; its employees are back to their previous export.",
                    )
                )
            report_outcomes(self, request, outcomes)

        return reason_confirmation(
            self,
            request,
            queryset,
            action="void",
            title="Void export batches",
            intro="Voiding tells Closebook that pVault did not keep these batches: each "
            "employee gets its previous export snapshot back. Why are they being voided?",
            submit_label="Void these batches",
            apply=apply,
            skipped=already_void,
            skip_note="already void, will be skipped",
            item_notes={batch.pk: _void_note(batch) for batch in batches if not batch.is_void},
        )

    @admin.action(description="Verify stored files of selected batches (sha256)")
    def verify(self, request: HttpRequest, queryset: QuerySet[ExportBatch]) -> None:
        batches = list(queryset.order_by("pk"))
        checked, problems = export_files_verify(batches)
        failed = {problem.batch_id: problem for problem in problems}
        report_outcomes(
            self,
            request,
            [
                ItemOutcome(
                    str(batch),
                    ok=False,
                    text=f"{failed[batch.pk].problem}: {failed[batch.pk].message}",
                )
                if batch.pk in failed
                else ItemOutcome(str(batch), ok=True, text="file verified (sha256 and size).")
                for batch in batches
            ],
        )
        level = messages.ERROR if problems else messages.SUCCESS
        self.message_user(
            request, f"{checked} files checked, {len(problems)} failed verification.", level
        )


@admin.register(ExportLine)
class ExportLineAdmin(SafeLookupsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "batch",
        "employee_id",
        "employee_name",
        "change_type",
        money_column("car_amount", "Card"),
        money_column("receipt_amount", "Receipts"),
        money_column("previous_exported_amount", "Previously exported"),
        money_column("adjustment_amount", "Adjustment"),
        "status",
        "marked_at",
    ]
    list_filter = ["change_type", "status", "batch__export_type", "batch__status"]
    search_fields = ["employee_id", "employee_name", "batch__batch_code"]
    date_hierarchy = "marked_at"
    list_select_related = ["batch"]
    show_full_result_count = False


VOID_NOTE_EMPLOYEES = 20


def _void_note(batch: ExportBatch) -> str:
    """Who and how much a void takes back, so the admin sees it before confirming."""
    lines = list(batch_lines(batch)[: VOID_NOTE_EMPLOYEES + 1])
    withdrawn = batch_lines(batch).aggregate(total=Sum("adjustment_amount"))["total"]
    listed = ", ".join(
        f"{line.employee_id} {format_money(line.adjustment_amount)}"
        for line in lines[:VOID_NOTE_EMPLOYEES]
    )
    more = (
        f" and {batch.employee_count - VOID_NOTE_EMPLOYEES} more"
        if len(lines) > VOID_NOTE_EMPLOYEES
        else ""
    )
    currency = batch.session.currency
    return (
        f"{batch.employee_count} employees, {format_money(withdrawn, currency)} withdrawn "
        f"from pVault: {listed}{more}"
    )
