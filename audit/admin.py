"""Audit events and notifications in the admin: read-only, filterable, searchable by
request id, so an auditor can follow one request across the log."""

from __future__ import annotations

from django.contrib import admin
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from audit.admin_actions import ReadOnlyAdminMixin
from audit.models import ActivityEvent, ApiToken, Notification
from core.admin import SafeLookupsMixin


@admin.register(ActivityEvent)
class ActivityEventAdmin(SafeLookupsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "occurred_at",
        "actor_label",
        "verb",
        "engagement",
        "session",
        "message",
        "request_id",
        "ip_address",
    ]
    list_filter = ["verb", "engagement", "occurred_at"]
    search_fields = ["message", "actor_label", "request_id", "session__name"]
    date_hierarchy = "occurred_at"
    list_select_related = ["engagement", "session"]
    show_full_result_count = False


@admin.register(Notification)
class NotificationAdmin(SafeLookupsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "user", "level", "message", "read_at"]
    list_filter = ["level", ("read_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["message", "user__username"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]


admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(TokenAdmin):
    """Tokens by user; the key is masked everywhere (SPEC §9). A lost key is replaced by
    deleting the token and creating one: `manage.py createoperator` prints it once."""

    list_display = ("masked_key", "user", "created")

    @admin.display(description="Key")
    def masked_key(self, obj: ApiToken) -> str:
        return obj.masked_key
