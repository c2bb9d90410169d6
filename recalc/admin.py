"""Recalculation jobs in the admin: read-only, with cancel and resume actions calling the
same services as the job page and the API."""

from __future__ import annotations

from functools import partial

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.admin_actions import ReadOnlyAdminMixin, outcome_of, report_outcomes
from core.admin import SafeLookupsMixin
from recalc.models import RecalcJob
from recalc.services import recalc_job_cancel, recalc_job_resume


@admin.register(RecalcJob)
class RecalcJobAdmin(SafeLookupsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "pk",
        "session",
        "kind",
        "status",
        "stage_name",
        "progress_percent",
        "message",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "kind", "preview", "session__engagement", "created_at"]
    search_fields = ["session__name", "message", "task_id"]
    date_hierarchy = "created_at"
    list_select_related = ["session", "created_by"]
    actions = ["cancel", "resume"]

    @admin.display(description="Progress")
    def progress_percent(self, obj: RecalcJob) -> str:
        return f"{round(obj.progress * 100)}%"

    @admin.action(description="Cancel selected jobs")
    def cancel(self, request: HttpRequest, queryset: QuerySet[RecalcJob]) -> None:
        outcomes = [
            outcome_of(
                f"Job {job.pk} ({job.session})",
                partial(recalc_job_cancel, job=job, actor=request.user),
                "cancelled (a running job stops at its next stage).",
            )
            for job in queryset.select_related("session").order_by("pk")
        ]
        report_outcomes(self, request, outcomes)

    @admin.action(description="Resume selected failed jobs")
    def resume(self, request: HttpRequest, queryset: QuerySet[RecalcJob]) -> None:
        outcomes = [
            outcome_of(
                f"Job {job.pk} ({job.session})",
                partial(recalc_job_resume, job=job, actor=request.user),
                "resumed from its last completed stage.",
            )
            for job in queryset.select_related("session").order_by("pk")
        ]
        report_outcomes(self, request, outcomes)
