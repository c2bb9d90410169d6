"""Audit events and notifications in the admin: read-only, filterable, searchable by
request id, so an auditor can follow one request across the log."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
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

    list_display = ("masked_key", "user", "created", "revoke_link")
    # A token's primary key is its key: no page, link or checkbox may carry it, so there
    # are no object pages (only the list, adding, and revoking by user id) and no actions.
    list_display_links = None

    @admin.display(description="Key")
    def masked_key(self, obj: ApiToken) -> str:
        return obj.masked_key

    @admin.display(description="")
    def revoke_link(self, obj: ApiToken) -> str:
        url = reverse("admin:audit_apitoken_delete", args=[obj.user_id])
        return format_html('<a href="{}">revoke</a>', url)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_view_permission(request)

    # The admin's log ("Recent actions") links each entry by primary key: log tokens by
    # their user's id instead, the id this admin's URLs use.
    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return _log_token(request, obj, ADDITION, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return _log_token(request, obj, CHANGE, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        return [_log_token(request, obj, DELETION, "") for obj in queryset]

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """The confirmation page names the token masked, without a link to it."""
        names = [str(obj) for obj in objs]
        return names, {self.opts.verbose_name_plural: len(names)}, set(), []


def _log_token(request: HttpRequest, token: ApiToken, flag: int, message: Any) -> LogEntry:
    return LogEntry.objects.create(
        user_id=int(request.user.pk or 0),
        content_type=ContentType.objects.get_for_model(token, for_concrete_model=False),
        object_id=str(token.user_id),
        object_repr=str(token)[:200],
        action_flag=flag,
        change_message=message if isinstance(message, str) else json.dumps(message),
    )
