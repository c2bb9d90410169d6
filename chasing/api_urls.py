"""/api/v1/… routes of chasing (SPEC §13)."""

from django.urls import path

from chasing import apis

urlpatterns = [
    path(
        "engagements/<slug:slug>/contacts/",
        apis.ContactListImportApi.as_view(),
        name="api-contacts",
    ),
    path(
        "engagements/<slug:slug>/report-subscriptions/",
        apis.ReportSubscriptionListCreateApi.as_view(),
        name="api-report-subscriptions",
    ),
    path("sessions/<int:pk>/reminders/", apis.SessionRemindersApi.as_view(), name="api-reminders"),
]
