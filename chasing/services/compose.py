"""The words of each email, rendered from templates: HTML and plain text from one context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string

from chasing.models import OutboundEmail
from sessions_app.models import Engagement


@dataclass(frozen=True)
class ComposedEmail:
    subject: str
    text_body: str
    html_body: str
    attachment_name: str = ""
    attachment_content: str = ""


def compose(template: str, subject: str, context: dict[str, Any]) -> ComposedEmail:
    return ComposedEmail(
        subject=subject,
        text_body=render_to_string(f"chasing/email/{template}.txt", context),
        html_body=render_to_string(f"chasing/email/{template}.html", context),
    )


def outbound_email_create(
    *, engagement: Engagement, to: str, composed: ComposedEmail, notify_user: Any = None
) -> OutboundEmail:
    return OutboundEmail.objects.create(
        engagement=engagement,
        to=to,
        subject=composed.subject[:300],
        text_body=composed.text_body,
        html_body=composed.html_body,
        attachment_name=composed.attachment_name,
        attachment_content=composed.attachment_content,
        notify_user=notify_user if getattr(notify_user, "is_authenticated", False) else None,
    )
