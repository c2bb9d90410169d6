"""Audit events and notifications in the admin: read-only, filterable, searchable by
request id, so an auditor can follow one request across the log."""

from __future__ import annotations

from django.contrib import admin

from audit.admin_actions import ReadOnlyAdminMixin
from audit.models import ActivityEvent, Notification


@admin.register(ActivityEvent)
class ActivityEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "user", "level", "message", "read_at"]
    list_filter = ["level", ("read_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["message", "user__username"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
