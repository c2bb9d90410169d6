from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from sessions_app.models import EmployeeRevision, Engagement, Membership, ProcessingSession


@admin.register(Engagement)
class EngagementAdmin(SimpleHistoryAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "engagement", "role"]
    list_filter = ["role", "engagement"]


@admin.register(ProcessingSession)
class ProcessingSessionAdmin(SimpleHistoryAdmin):
    list_display = ["name", "engagement", "period_start", "status", "created_at"]
    list_filter = ["status", "engagement"]
    search_fields = ["name", "engagement__name"]
    date_hierarchy = "period_start"


@admin.register(EmployeeRevision)
class EmployeeRevisionAdmin(SimpleHistoryAdmin):
    list_display = [
        "employee_id",
        "employee_name",
        "session",
        "car_amount",
        "receipt_amount",
        "status",
    ]
    list_filter = ["status"]
    search_fields = ["employee_id", "employee_name"]
