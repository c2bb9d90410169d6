"""/api/v1/ (the scripts' door), /api/schema/ and /api/docs/."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
