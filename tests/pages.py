"""What the view and admin tests send and read: the htmx request headers and the messages an
admin action leaves."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

HTMX = {"HX-Request": "true"}


def from_session_page(session: Any) -> dict[str, str]:
    """Headers of an htmx request sent from the session's page."""
    detail = reverse("sessions_app:session_detail", args=[session.pk])
    return {**HTMX, "HX-Current-URL": f"http://testserver{detail}"}


def admin_messages(response: Any) -> list[str]:
    """The messages the admin shows after an action, in order."""
    return [str(message) for message in response.context["messages"]]
