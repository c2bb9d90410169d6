from django.urls import path

from core import converters  # noqa: F401  (registers the employee_id converter)
from sessions_app import views

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
    path("notifications/", views.notification_list, name="notification_list"),
    path(
        "notifications/<int:pk>/read/",
        views.notification_read,
        name="notification_read",
    ),
    path(
        "notifications/read-all/",
        views.notification_read_all,
        name="notification_read_all",
    ),
]
