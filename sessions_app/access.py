"""Who may see or change what: one rule for every door. Staff act as operators everywhere;
another engagement's object is a 404, a viewer's write a 403."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from core.api import not_found_as
from sessions_app.models import EmployeeRevision, Engagement, Membership, ProcessingSession


def is_staff(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def engagements_for_user(user: Any) -> QuerySet[Engagement]:
    if is_staff(user):
        return Engagement.objects.all()
    return Engagement.objects.filter(memberships__user=user)


def role_in(user: Any, engagement_id: int) -> str | None:
    """The user's role in an engagement; staff act as operators everywhere."""
    if is_staff(user):
        return Membership.Role.OPERATOR
    return (
        Membership.objects.filter(user=user, engagement_id=engagement_id)
        .values_list("role", flat=True)
        .first()
    )


def check_engagement_access(user: Any, engagement_id: int, *, write: bool) -> str:
    """404 for an engagement the user is not in (never a hint that it exists), 403 for a
    viewer asking to write."""
    role = role_in(user, engagement_id) if user.is_authenticated else None
    if role is None:
        raise Http404("No such engagement.")
    if write and role != Membership.Role.OPERATOR:
        raise PermissionDenied("Viewers can read and download, not change anything.")
    return role


def get_engagement_for(user: Any, slug_or_id: str | int, *, write: bool = False) -> Engagement:
    lookup = Q(slug=str(slug_or_id))
    if str(slug_or_id).isascii() and str(slug_or_id).isdigit():
        lookup |= Q(pk=int(slug_or_id))
    engagement = Engagement.objects.filter(lookup).first()
    if engagement is None:
        raise Http404("No such engagement.")
    check_engagement_access(user, engagement.pk, write=write)
    return engagement


def get_session_for(user: Any, pk: int | str, *, write: bool = False) -> ProcessingSession:
    try:
        session = ProcessingSession.objects.select_related("engagement").get(pk=int(pk))
    except (ProcessingSession.DoesNotExist, ValueError, TypeError):
        raise Http404("No such session.") from None
    check_engagement_access(user, session.engagement_id, write=write)
    return session


def session_for(user: Any, pk: int, *, write: bool = False) -> ProcessingSession:
    """`get_session_for` for the API: one 404 message whether the session does not exist or
    belongs to another engagement."""
    with not_found_as("No such session."):
        return get_session_for(user, pk, write=write)


def can_write(user: Any, session: ProcessingSession) -> bool:
    """Whether a page shows write controls; the services and get_session_for still decide."""
    return not session.is_closed and role_in(user, session.engagement_id) == (
        Membership.Role.OPERATOR
    )


def get_revision_for(session: ProcessingSession, employee_id: str) -> EmployeeRevision:
    """An employee's revision in a session the caller already reached through
    `get_session_for`; 404 when the session has no such employee."""
    if "\x00" in employee_id:  # PostgreSQL refuses NUL in text: no such employee either way
        raise Http404("No such employee in this session.")
    revision = (
        EmployeeRevision.objects.filter(session=session, employee_id=employee_id)
        .select_related("session__engagement", "last_export_batch", "resolved_by")
        .first()
    )
    if revision is None:
        raise Http404(f"No employee '{employee_id}' in this session.")
    return revision


def engagement_roles_for(user: Any) -> list[tuple[Engagement, str]]:
    """The user's engagements with their role in each, in one query (staff: every
    engagement, as operator)."""
    if is_staff(user):
        return [(engagement, Membership.Role.OPERATOR) for engagement in Engagement.objects.all()]
    memberships = (
        Membership.objects.filter(user=user)
        .select_related("engagement")
        .order_by("engagement__name")
    )
    return [(membership.engagement, membership.role) for membership in memberships]


def writable_engagements(user: Any) -> list[Engagement]:
    """Engagements where the user may open sessions (operators; staff everywhere)."""
    if is_staff(user):
        return list(Engagement.objects.all())
    return list(
        Engagement.objects.filter(
            memberships__user=user, memberships__role=Membership.Role.OPERATOR
        )
    )
