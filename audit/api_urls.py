"""/api/v1/analytics/… (included by config/api_urls.py)."""

from django.urls import path

from audit import apis

urlpatterns = [
    path("sessions/", apis.SessionAnalyticsApi.as_view(), name="api-analytics-sessions"),
]
