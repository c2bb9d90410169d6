"""Django admin for the sessions domain: the admins' door. Every write goes through the
same services as pages and API; actions report one message per selected session."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from audit.admin_actions import (
    CloseReasonForm,
    ItemOutcome,
    ReadOnlyAdminMixin,
    outcome_of,
    reason_confirmation,
    report_outcomes,
    skipped,
)
from core.admin import SafeLookupsMixin
from core.errors import DomainError, NothingToDo, SessionClosed
from core.money import money_column
from exports.selectors import close_pending
from exports.services import exports_bulk_create
from recalc.services import session_recalculate
from sessions_app.archival import ARCHIVED, RESTORED, session_archive, session_restore
from sessions_app.bulk import BulkItemResult, sessions_bulk_close
from sessions_app.forms import ImportProfileAdminForm
from sessions_app.models import (
    CardTransaction,
    EmployeeRevision,
    Engagement,
    ImportProfile,
    Membership,
    ProcessingSession,
    ReceiptLine,
    ReceiptVersion,
    UserPreference,
)
from sessions_app.selectors import with_session_figures
from sessions_app.services import (
    close_pending_text,
    engagement_create,
    import_profile_save,
    membership_grant,
    membership_revoke,
    session_update,
)

# --- Engagements, members, import profiles ------------------------------------------------------


@admin.register(Engagement)
class EngagementAdmin(SafeLookupsMixin, SimpleHistoryAdmin):
    list_display = ["name", "slug", "default_session", "created_at"]
    search_fields = ["name", "slug"]
    date_hierarchy = "created_at"
    list_select_related = ["default_session"]
    fields = ["name", "slug", "default_session", "created_at"]
    readonly_fields = ["slug", "default_session", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The slug is the engagement's address: it is set once, from the name.
        return [*self.readonly_fields, "name"] if obj else self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def save_model(self, request: HttpRequest, obj: Engagement, form: Any, change: bool) -> None:
        if change:
            return  # nothing on an existing engagement is editable here
        created = engagement_create(name=obj.name, actor=request.user)
        obj.pk, obj.slug, obj.created_at = created.pk, created.slug, created.created_at


@admin.register(Membership)
class MembershipAdmin(SafeLookupsMixin, admin.ModelAdmin):
    list_display = ["user", "engagement", "role", "created_at"]
    list_filter = ["role", "engagement"]
    search_fields = ["user__username", "user__email", "engagement__name"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "engagement"]
    autocomplete_fields = ["user", "engagement"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["user", "engagement"] if obj else []

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        granted = membership_grant(
            engagement=obj.engagement, user=obj.user, role=obj.role, actor=request.user
        )
        obj.pk, obj.created_at = granted.pk, granted.created_at

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_revoke(engagement=obj.engagement, user=obj.user, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for membership in queryset.select_related("user", "engagement"):
            self.delete_model(request, membership)


@admin.register(ImportProfile)
class ImportProfileAdmin(SafeLookupsMixin, admin.ModelAdmin):
    form = ImportProfileAdminForm
    list_display = ["name", "engagement", "delimiter", "encoding", "decimal_separator"]
    list_filter = ["engagement", "encoding", "decimal_separator", "charges_negative"]
    search_fields = ["name", "engagement__name"]
    date_hierarchy = "created_at"
    list_select_related = ["engagement"]
    readonly_fields = ["created_by", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Profiles are saved by name: renaming one would create a second profile.
        return [*self.readonly_fields, "engagement", "name"] if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ImportProfile, form: Any, change: bool) -> None:
        data = {
            "name": obj.name,
            "delimiter": obj.delimiter or None,
            "encoding": obj.encoding or None,
            "skip_lines": obj.skip_lines,
            "columns": obj.columns or {},
            "decimal_separator": obj.decimal_separator or None,
            "date_format": obj.date_format or None,
            "charges_negative": obj.charges_negative,
            "unassigned_employee_id": obj.unassigned_employee_id,
        }
        saved = import_profile_save(engagement=obj.engagement, data=data, actor=request.user)
        obj.pk, obj.created_at = saved.pk, saved.created_at


@admin.register(UserPreference)
class UserPreferenceAdmin(SafeLookupsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "default_engagement", "current_session"]
    list_filter = ["default_engagement"]
    search_fields = ["user__username"]
    list_select_related = ["user", "default_engagement", "current_session"]


# --- Sessions and their admin actions -----------------------------------------------------------


@admin.register(ProcessingSession)
class ProcessingSessionAdmin(SafeLookupsMixin, SimpleHistoryAdmin):
    list_display = [
        "name",
        "engagement",
        "period_start",
        "period_end",
        "status",
        "receipt_file_versions",
        "employee_count",
        "export_count",
        "created_by",
        "created_at",
        "closed_at",
        "archived_at",
        "audit_links",
    ]
    list_filter = ["status", "engagement", "created_at", "closed_at", "archived_at"]
    search_fields = ["name", "engagement__name", "engagement__slug", "closure_reason"]
    date_hierarchy = "period_start"
    list_select_related = ["engagement", "created_by"]
    history_list_display = ["status"]
    fields = [
        "engagement",
        "name",
        "period_start",
        "period_end",
        "tolerance",
        "status",
        "card_file_name",
        "card_sha256",
        "card_row_count",
        "created_by",
        "created_at",
        "closed_by",
        "closed_at",
        "closure_reason",
        "archived_at",
        "archive_location",
    ]
    editable_fields = ("name", "tolerance")
    actions = ["bulk_close", "bulk_export", "recalculate", "archive", "restore"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProcessingSession]:
        return with_session_figures(super().get_queryset(request))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None or obj.is_closed:
            return self.fields
        return [name for name in self.fields if name not in self.editable_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a session starts from its card file: the new-session page or the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_closed:
            return False  # read-only everywhere once closed
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # closing is the end of a session's life, never deleting

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def save_model(
        self, request: HttpRequest, obj: ProcessingSession, form: Any, change: bool
    ) -> None:
        """Rename or change the tolerance through session_update (which recalculates on a
        tolerance change and writes the audit event)."""
        try:
            session_update(
                session=obj,
                name=form.cleaned_data.get("name"),
                tolerance=form.cleaned_data.get("tolerance"),
                actor=request.user,
            )
        except DomainError as exc:
            self.message_user(request, f"{obj}: not saved: {exc.message}", messages.ERROR)

    @admin.display(description="Receipts", ordering="receipt_file_versions")
    def receipt_file_versions(self, obj: ProcessingSession) -> str:
        versions = getattr(obj, "receipt_file_versions", None)
        return f"v{versions}" if versions else "—"

    @admin.display(description="Employees")
    def employee_count(self, obj: ProcessingSession) -> int:
        return getattr(obj, "employee_count", 0)

    @admin.display(description="Exports")
    def export_count(self, obj: ProcessingSession) -> int:
        return getattr(obj, "export_count", None) or 0

    @admin.display(description="Audit")
    def audit_links(self, obj: ProcessingSession) -> str:
        return format_html(
            '<a href="{}">timeline</a> · <a href="{}">as of…</a>',
            reverse("audit:session_timeline", args=[obj.pk]),
            reverse("audit:session_as_of", args=[obj.pk]),
        )

    @admin.action(description="Close selected sessions (asks for a reason)")
    def bulk_close(
        self, request: HttpRequest, queryset: QuerySet[ProcessingSession]
    ) -> HttpResponse | None:
        sessions = list(queryset.select_related("engagement"))
        closed = [session for session in sessions if session.is_closed]

        def apply(reason: str, close_anyway: bool = False) -> None:
            results = sessions_bulk_close(
                sessions=sessions, reason=reason, actor=request.user, close_anyway=close_anyway
            )
            by_id = {session.pk: session for session in sessions}
            report_outcomes(self, request, [_close_outcome(by_id, item) for item in results])

        return reason_confirmation(
            self,
            request,
            queryset,
            action="bulk_close",
            title="Close sessions",
            intro="Closing is permanent: a closed session can be viewed and its exports "
            "downloaded, never changed. Why are these sessions being closed?",
            submit_label="Close these sessions",
            apply=apply,
            skipped=closed,
            skip_note="already closed, will be skipped",
            item_notes=_close_pending_notes(sessions),
            form_class=CloseReasonForm,
        )

    @admin.action(description="Export selected sessions (delta pVault, one ZIP)")
    def bulk_export(
        self, request: HttpRequest, queryset: QuerySet[ProcessingSession]
    ) -> HttpResponse | None:
        sessions = list(queryset.select_related("engagement").order_by("pk"))
        result = exports_bulk_create(
            sessions=sessions, export_type="pvault", delta_only=True, actor=request.user
        )
        by_id = {session.pk: session for session in sessions}
        outcomes = [_export_outcome(by_id, item, result.refusals) for item in result.results]
        report_outcomes(self, request, outcomes)
        if not any(item["ok"] for item in result.results):
            return None
        response = HttpResponse(result.zip_bytes, content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="closebook-bulk-export.zip"'
        return response

    @admin.action(description="Recalculate selected sessions")
    def recalculate(self, request: HttpRequest, queryset: QuerySet[ProcessingSession]) -> None:
        outcomes = []
        for session in queryset.select_related("engagement"):
            outcomes.append(
                outcome_of(
                    str(session),
                    partial(session_recalculate, session=session, actor=request.user),
                    "recalculation queued.",
                )
            )
        report_outcomes(self, request, outcomes)

    @admin.action(description="Archive selected closed sessions")
    def archive(self, request: HttpRequest, queryset: QuerySet[ProcessingSession]) -> None:
        outcomes = []
        for session in queryset.select_related("engagement"):
            try:
                result = session_archive(session=session, actor=request.user)
            except NothingToDo as exc:
                outcomes.append(skipped(str(session), exc))
                continue
            except DomainError as exc:
                outcomes.append(ItemOutcome(label=str(session), ok=False, text=exc.message))
                continue
            done = result.outcome == ARCHIVED
            outcomes.append(
                ItemOutcome(label=str(session), ok=done, skipped=not done, text=result.message)
            )
        report_outcomes(self, request, outcomes)

    @admin.action(description="Restore selected archived sessions")
    def restore(self, request: HttpRequest, queryset: QuerySet[ProcessingSession]) -> None:
        outcomes = []
        for session in queryset:
            try:
                result = session_restore(session=session, actor=request.user)
            except DomainError as exc:
                outcomes.append(ItemOutcome(label=str(session), ok=False, text=exc.message))
                continue
            done = result.outcome == RESTORED
            outcomes.append(
                ItemOutcome(label=str(session), ok=done, skipped=not done, text=result.message)
            )
        report_outcomes(self, request, outcomes)


def _close_outcome(by_id: dict[int, ProcessingSession], item: BulkItemResult) -> ItemOutcome:
    session = by_id[item["session_id"]]
    if item["ok"]:
        return ItemOutcome(label=str(session), ok=True, text="closed.")
    if session.is_closed:  # as it was when selected: a close that was never needed
        return skipped(str(session), SessionClosed(item["error"] or ""))
    return ItemOutcome(label=str(session), ok=False, text=f"not closed: {item['error']}")


def _export_outcome(
    by_id: dict[int, ProcessingSession], item: dict[str, Any], refusals: dict[int, DomainError]
) -> ItemOutcome:
    session = by_id[item["session_id"]]
    if item["ok"]:
        return ItemOutcome(label=str(session), ok=True, text=f"exported as {item['batch_code']}.")
    refusal = refusals.get(session.pk)
    if isinstance(refusal, NothingToDo):
        return skipped(str(session), refusal)
    return ItemOutcome(label=str(session), ok=False, text=f"not exported: {item['error']}")


# --- Files, lines and results: written only by the services -------------------------------------


@admin.register(ReceiptVersion)
class ReceiptVersionAdmin(SafeLookupsMixin, ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "session",
        "version",
        "mode",
        "state",
        "row_count",
        "duplicate_count",
        "file_name",
        "uploaded_by",
        "uploaded_at",
    ]
    list_filter = ["mode", "state", "session__engagement", "uploaded_at"]
    search_fields = ["session__name", "file_name", "sha256", "note"]
    date_hierarchy = "uploaded_at"
    list_select_related = ["session", "uploaded_by"]


class LineAdmin(SafeLookupsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Parsed lines: millions of rows, so no full count on every filter change."""

    list_select_related = ["session"]
    show_full_result_count = False
    list_per_page = 100


@admin.register(CardTransaction)
class CardTransactionAdmin(LineAdmin):
    list_display = [
        "session",
        "line_number",
        "employee_id",
        "employee_name",
        money_column("amount", "Amount"),
        "transaction_date",
        "merchant",
    ]
    list_filter = ["session__engagement", "session"]
    search_fields = ["employee_id", "employee_name", "merchant"]
    date_hierarchy = "transaction_date"


@admin.register(ReceiptLine)
class ReceiptLineAdmin(LineAdmin):
    list_display = [
        "session",
        "receipt_version",
        "line_number",
        "employee_id",
        "employee_name",
        money_column("amount", "Amount"),
        "receipt_date",
        "receipt_id",
    ]
    list_filter = ["session__engagement", "session"]
    search_fields = ["employee_id", "employee_name", "receipt_id", "merchant"]
    date_hierarchy = "receipt_date"
    list_select_related = ["session", "receipt_version"]


@admin.register(EmployeeRevision)
class EmployeeRevisionAdmin(SafeLookupsMixin, ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "employee_id",
        "employee_name",
        "session",
        money_column("car_amount", "Card"),
        money_column("receipt_amount", "Receipts"),
        money_column("difference", "Difference"),
        "status",
        "amount_changed",
        money_column("exported_car_amount", "Exported card amount"),
        "last_export_batch",
        "version",
        "history_link",
    ]
    list_filter = ["status", "amount_changed", "session__engagement", "session"]
    search_fields = ["employee_id", "employee_name", "session__name"]
    date_hierarchy = "updated_at"
    list_select_related = ["session", "last_export_batch"]
    history_list_display = ["status", "car_amount", "receipt_amount"]

    @admin.display(description="Revision history")
    def history_link(self, obj: EmployeeRevision) -> str:
        url = reverse("audit:revision_history", args=[obj.session_id, obj.employee_id])
        return format_html('<a href="{}">diffs</a>', url)


def _close_pending_notes(sessions: list[ProcessingSession]) -> dict[int, str]:
    """Per open session, what closing it now would leave behind (SPEC §3), in words."""
    notes = {}
    for session in sessions:
        if session.is_closed:
            continue
        pending = close_pending(session)
        notes[session.pk] = (
            f"{close_pending_text(session, pending)}; refused unless “Close anyway”"
            if pending.blocks
            else "everything export-ready is in pVault"
        )
    return notes
