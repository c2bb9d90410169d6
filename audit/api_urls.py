"""/api/v1/analytics/… (included by config/api_urls.py)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
