"""/chasing/… pages: the directory, receipt requests, report subscribers, the weekly report."""

from django.urls import path

from chasing import views

app_name = "chasing"

engagement = "engagements/<slug:slug>/"

urlpatterns = [
    path(f"{engagement}contacts/", views.contacts_page, name="contacts"),
    path(f"{engagement}settings/", views.chasing_settings_page, name="settings"),
    path(f"{engagement}report-subscriptions/", views.subscriptions_page, name="subscriptions"),
    path(
        f"{engagement}report-subscriptions/<int:subscription_pk>/delete/",
        views.subscription_delete,
        name="subscription_delete",
    ),
    path(f"{engagement}weekly-report/", views.weekly_report_preview, name="weekly_report"),
    path(f"{engagement}weekly-report/send/", views.weekly_report_send, name="weekly_report_send"),
    path("sessions/<int:pk>/reminders/", views.reminders_page, name="reminders"),
]
