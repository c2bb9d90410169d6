"""Engagements, memberships, import profiles and a user's current session."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import ConfirmRequired, ValidationFailed
from core.history import history_note
from sessions_app.ingestion import ImportSettings
from sessions_app.models import (
    Engagement,
    ImportProfile,
    Membership,
    ProcessingSession,
    UserPreference,
)


def engagement_create(*, name: str, actor: Any = None) -> Engagement:
    name = name.strip()
    slug = slugify(name)
    if not slug:
        raise ValidationFailed("An engagement needs a name with letters or digits.")
    if Engagement.objects.filter(slug=slug).exists():
        raise ValidationFailed(f"An engagement with the slug '{slug}' already exists.")
    with transaction.atomic():
        engagement = Engagement(name=name, slug=slug)
        history_note(engagement, actor=actor, reason="engagement created")
        engagement.save()
        activity_event_record(
            verb=ActivityEvent.Verb.ENGAGEMENT_CREATED,
            message=f"Engagement '{name}' created",
            actor=actor,
            engagement=engagement,
        )
    return engagement


def membership_grant(
    *, engagement: Engagement, user: Any, role: str = Membership.Role.OPERATOR, actor: Any = None
) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationFailed(f"Unknown role '{role}': use operator or viewer.")
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(
            user=user, engagement=engagement, defaults={"role": role}
        )
        preference, _ = UserPreference.objects.get_or_create(user=user)
        if preference.default_engagement_id is None:
            preference.default_engagement = engagement
            preference.save(update_fields=["default_engagement"])
        activity_event_record(
            verb=ActivityEvent.Verb.MEMBERSHIP_GRANTED,
            message=f"{user.get_username()} is {role} of '{engagement.name}'",
            actor=actor,
            engagement=engagement,
            details={"user": user.get_username(), "role": role},
        )
    return membership


def membership_revoke(*, engagement: Engagement, user: Any, actor: Any = None) -> None:
    """Take a user out of an engagement; their past actions stay in the audit trail."""
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(user=user, engagement=engagement).delete()
        if not deleted:
            raise ValidationFailed(f"{user.get_username()} is not a member of '{engagement.name}'.")
        UserPreference.objects.filter(user=user, default_engagement=engagement).update(
            default_engagement=None
        )
        UserPreference.objects.filter(user=user, current_session__engagement=engagement).update(
            current_session=None
        )
        activity_event_record(
            verb=ActivityEvent.Verb.MEMBERSHIP_REVOKED,
            message=f"{user.get_username()} removed from '{engagement.name}'",
            actor=actor,
            engagement=engagement,
            details={"user": user.get_username()},
        )


def import_profile_save(
    *, engagement: Engagement, data: dict[str, Any], actor: Any = None, replace: bool = True
) -> ImportProfile:
    """Create or update a named import profile; its settings are validated by the parser's
    own reading of them, so a profile that saves is a profile that parses. With
    `replace=False` an existing profile of the same name is not overwritten unasked
    (`confirm_required`)."""
    name = str(data.get("name", "")).strip()
    if not name:
        raise ValidationFailed("An import profile needs a name.")
    if not replace and ImportProfile.objects.filter(engagement=engagement, name=name).exists():
        raise ConfirmRequired(
            f"The engagement already has an import profile named '{name}'. Choose another "
            "name, or confirm that it should be replaced.",
            details={"profile": name},
        )
    import_settings = ImportSettings.from_dict(data)
    fields = {
        "delimiter": import_settings.delimiter or "",
        "encoding": import_settings.encoding or "",
        "skip_lines": import_settings.skip_lines,
        "columns": dict(import_settings.columns),
        "decimal_separator": import_settings.decimal_separator or "",
        "date_format": str(data.get("date_format") or ""),
        "charges_negative": import_settings.charges_negative,
        "unassigned_employee_id": import_settings.unassigned_employee_id,
    }
    with transaction.atomic():
        profile, _ = ImportProfile.objects.update_or_create(
            engagement=engagement, name=name, defaults={**fields, "created_by": actor}
        )
        activity_event_record(
            verb=ActivityEvent.Verb.IMPORT_PROFILE_SAVED,
            message=f"Import profile '{name}' saved",
            actor=actor,
            engagement=engagement,
            details={"profile": name},
        )
    return profile


def user_current_session_switch(*, user: Any, session: ProcessingSession) -> UserPreference:
    preference, _ = UserPreference.objects.get_or_create(user=user)
    preference.current_session = session
    preference.default_engagement = session.engagement
    preference.save(update_fields=["current_session", "default_engagement"])
    return preference
