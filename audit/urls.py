"""/audit/… pages: engagement log, session timeline and "as of", revision history,
and analytics."""

from django.urls import path

from audit import views
from core import converters  # noqa: F401  (registers the employee_id converter)

app_name = "audit"

urlpatterns = [
    path("engagements/<slug:slug>/log/", views.engagement_log, name="engagement_log"),
    path("engagements/<slug:slug>/log.csv", views.engagement_log_csv, name="engagement_log_csv"),
    path("sessions/<int:pk>/timeline/", views.session_timeline_page, name="session_timeline"),
    path("sessions/<int:pk>/as-of/", views.session_as_of_page, name="session_as_of"),
    path(
        "sessions/<int:pk>/employees/<employee_id:employee_id>/history/",
        views.revision_history_page,
        name="revision_history",
    ),
    path("analytics/", views.analytics_page, name="analytics"),
    path("analytics/<slug:table>.csv", views.analytics_csv, name="analytics_csv"),
]
