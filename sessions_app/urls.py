from django.urls import path

from core import converters  # noqa: F401  (registers the employee_id converter)
from recalc import views as job_views
from sessions_app import notification_views, views

app_name = "sessions_app"

session = "sessions/<int:pk>/"

urlpatterns = [
    path("", views.session_list, name="session_list"),
    path("sessions/new/", views.session_new, name="session_new"),
    path("sessions/switch/", views.session_switch, name="session_switch"),
    path("import-profiles/new/", views.import_profile_new, name="import_profile_new"),
    path(session, views.session_detail, name="session_detail"),
    path(f"{session}close/", views.session_close_view, name="session_close"),
    path(f"{session}receipts/new/", views.receipts_upload, name="receipts_upload"),
    path(f"{session}card/replace/", views.card_replace, name="card_replace"),
    path(
        f"{session}receipts/<int:version>/reapply/",
        views.receipt_reapply,
        name="receipt_reapply",
    ),
    path(f"{session}recalculate/", job_views.session_recalculate_view, name="session_recalculate"),
    path(f"{session}jobs/<int:job_pk>/", job_views.job_panel, name="job_panel"),
    path(f"{session}jobs/<int:job_pk>/cancel/", job_views.job_cancel, name="job_cancel"),
    path(f"{session}jobs/<int:job_pk>/apply/", job_views.job_apply, name="job_apply"),
    path(f"{session}jobs/<int:job_pk>/discard/", job_views.job_discard, name="job_discard"),
    path(f"{session}jobs/<int:job_pk>/resume/", job_views.job_resume, name="job_resume"),
    path(
        f"{session}employees/<employee_id:employee_id>/resolve/",
        views.employee_resolve,
        name="employee_resolve",
    ),
    # After every longer employee route: the id may itself contain `/`, so the bare
    # route would otherwise swallow `<id>/resolve/`.
    path(
        f"{session}employees/<employee_id:employee_id>/",
        views.employee_detail,
        name="employee_detail",
    ),
    path("notifications/", notification_views.notification_list, name="notification_list"),
    path(
        "notifications/<int:pk>/read/",
        notification_views.notification_read,
        name="notification_read",
    ),
    path(
        "notifications/read-all/",
        notification_views.notification_read_all,
        name="notification_read_all",
    ),
]
