"""Admin of chasing: the directory (with history), settings, subscribers, the recorded
requests and emails (read-only), and the "Request receipts" action on sessions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from audit.admin_actions import ItemOutcome, ReadOnlyAdminMixin, report_outcomes, skipped
from chasing.models import (
    ChasingSettings,
    DeliveryAttempt,
    EmployeeContact,
    OutboundEmail,
    ReceiptRequest,
    ReportSubscription,
    RequestedCharge,
)
from chasing.services import receipt_requests_send
from core.errors import DomainError, NothingToDo
from sessions_app.admin import ProcessingSessionAdmin
from sessions_app.models import ProcessingSession


@admin.register(EmployeeContact)
class EmployeeContactAdmin(SimpleHistoryAdmin):
    list_display = ["employee_id", "email", "manager_email", "engagement", "updated_at"]
    list_filter = ["engagement"]
    search_fields = ["employee_id", "email", "manager_email"]
    list_select_related = ["engagement"]


@admin.register(ChasingSettings)
class ChasingSettingsAdmin(SimpleHistoryAdmin):
    list_display = ["engagement", "quiet_period_days", "escalation_days"]
    list_select_related = ["engagement"]


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["email", "engagement", "frequency", "created_by", "created_at"]
    list_filter = ["engagement", "frequency"]
    search_fields = ["email"]
    list_select_related = ["engagement", "created_by"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(
        self, request: HttpRequest, obj: ReportSubscription, form: Any, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


class RequestedChargeInline(admin.TabularInline):
    model = RequestedCharge
    fields = ("line_number", "date", "merchant", "amount")
    readonly_fields = ("line_number", "date", "merchant", "amount")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReceiptRequest)
class ReceiptRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind",
        "employee_id",
        "recipient",
        "charge_count",
        "amount",
        "delivery",
        "session",
        "requested_by",
    ]
    list_filter = ["kind", "email__status", "session__engagement"]
    search_fields = ["employee_id", "employee_name", "recipient"]
    list_select_related = ["email", "session", "requested_by"]
    inlines = [RequestedChargeInline]

    @admin.display(description="Delivery", ordering="email__status")
    def delivery(self, obj: ReceiptRequest) -> str:
        return obj.email.get_status_display()


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("attempted_at", "succeeded", "error")
    readonly_fields = ("attempted_at", "succeeded", "error")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboundEmail)
class OutboundEmailAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "to", "subject", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "engagement"]
    search_fields = ["to", "subject"]
    inlines = [DeliveryAttemptInline]


@admin.action(description="Request receipts for unmatched charges")
def request_receipts(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[ProcessingSession]
) -> None:
    """One outcome per session: how many employees were asked, and who was skipped."""
    outcomes = []
    for session in queryset.select_related("engagement"):
        try:
            result = receipt_requests_send(session=session, actor=request.user).as_dict()
        except NothingToDo as refusal:
            outcomes.append(skipped(str(session), refusal))
            continue
        except DomainError as refused:
            outcomes.append(ItemOutcome(str(session), ok=False, text=refused.message))
            continue
        text = (
            f"receipts requested from {result['sent']} employees; "
            f"{len(result['skipped_no_contact'])} skipped without a contact, "
            f"{len(result['skipped_recent'])} skipped as asked recently."
        )
        outcomes.append(ItemOutcome(str(session), ok=True, text=text))
    report_outcomes(modeladmin, request, outcomes)


# Chasing sits above sessions, so it adds its action to the session admin rather than the
# session admin knowing about chasing.
session_actions: list[Any] = [*(ProcessingSessionAdmin.actions or ()), request_receipts]
ProcessingSessionAdmin.actions = session_actions
