"""Writing audit events and notifications. Called by the domain services only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import timezone

from audit.context import current_origin
from audit.models import ActivityEvent, Notification
from core.history import actor_or_none

if TYPE_CHECKING:
    from sessions_app.models import Engagement, ProcessingSession


def activity_event_record(
    *,
    verb: str,
    message: str,
    actor: Any = None,
    engagement: Engagement | None = None,
    session: ProcessingSession | None = None,
    details: dict[str, Any] | None = None,
    actor_label: str = "",
) -> ActivityEvent:
    origin = current_origin()
    if session is not None and engagement is None:
        engagement = session.engagement
    user = actor_or_none(actor)
    return ActivityEvent.objects.create(
        verb=verb,
        message=message[:500],
        actor=user,
        actor_label=actor_label or (user.get_username() if user else "system"),
        engagement=engagement,
        session=session,
        details=details or {},
        request_id=origin.request_id,
        ip_address=origin.ip_address,
    )


def notification_send(
    *, user: Any, message: str, link: str = "", level: str = "info"
) -> Notification:
    return Notification.objects.create(user=user, message=message[:500], link=link, level=level)


def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user: Any) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
