from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Installed only so that its template tags (money) load; it has no models."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"
