"""The page header: engagements, the current-session switcher and unread notifications.

Every value is lazy, so an htmx fragment (which never renders the header) costs no query."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.http import HttpRequest

from audit.models import Notification
from sessions_app.access import engagement_roles_for
from sessions_app.models import Engagement, Membership, ProcessingSession, UserPreference
from sessions_app.selectors import engagements_for_user

SWITCHER_SESSIONS = 30


class PageHeader:
    """What base.html shows above every page for the signed-in user."""

    def __init__(self, user: Any) -> None:
        self.user = user

    @cached_property
    def engagement_roles(self) -> list[tuple[Engagement, str]]:
        """The user's engagements with their role in each, in one query."""
        return engagement_roles_for(self.user)

    @property
    def engagements(self) -> list[Engagement]:
        return [engagement for engagement, _ in self.engagement_roles]

    @property
    def operates_any(self) -> bool:
        return any(role == Membership.Role.OPERATOR for _, role in self.engagement_roles)

    @property
    def log_engagement(self) -> Engagement | None:
        """The engagement whose audit log the header links to: the user's default one."""
        engagements = self.engagements
        default_id = self.preference.default_engagement_id if self.preference else None
        chosen = [engagement for engagement in engagements if engagement.pk == default_id]
        candidates = chosen or engagements
        return candidates[0] if candidates else None

    @cached_property
    def preference(self) -> UserPreference | None:
        return (
            UserPreference.objects.filter(user=self.user)
            .select_related("current_session", "default_engagement")
            .first()
        )

    @property
    def current_session(self) -> ProcessingSession | None:
        return self.preference.current_session if self.preference else None

    @cached_property
    def switchable_sessions(self) -> list[ProcessingSession]:
        """The latest sessions of the user's engagements, newest period first."""
        sessions = ProcessingSession.objects.filter(
            engagement__in=engagements_for_user(self.user)
        ).select_related("engagement")
        return list(sessions.only("pk", "name", "status", "engagement__name")[:SWITCHER_SESSIONS])

    @cached_property
    def unread_notifications(self) -> int:
        return Notification.objects.filter(user=self.user, read_at__isnull=True).count()


def page_header(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"page_header": PageHeader(user)}
