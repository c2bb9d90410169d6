"""Report subscribers and the engagement's chasing settings."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from chasing.models import ChasingSettings, ReportSubscription
from core.errors import ValidationFailed
from core.history import history_note
from sessions_app.models import Engagement


def report_subscription_create(
    *, engagement: Engagement, email: str, frequency: str = "weekly", actor: Any
) -> ReportSubscription:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed(
            "Enter a valid email address.", details={"email": email[:100]}
        ) from None
    if frequency not in ReportSubscription.Frequency.values:
        raise ValidationFailed(
            "The only report frequency is weekly.", details={"frequency": frequency[:20]}
        )
    with transaction.atomic():
        subscription, created = ReportSubscription.objects.get_or_create(
            engagement=engagement,
            email=email,
            defaults={
                "frequency": frequency,
                "created_by": actor if getattr(actor, "is_authenticated", False) else None,
            },
        )
    if not created:
        raise ValidationFailed(f"{email} already receives the weekly report.")
    return subscription


def report_subscription_delete(*, subscription: ReportSubscription, actor: Any) -> None:
    subscription.delete()


def chasing_settings_save(
    *, engagement: Engagement, quiet_period_days: int, escalation_days: int, actor: Any
) -> ChasingSettings:
    if quiet_period_days < 0 or escalation_days < 1:
        raise ValidationFailed("The quiet period is 0 days or more, escalation 1 day or more.")
    with transaction.atomic():
        chasing = ChasingSettings.objects.select_for_update().filter(engagement=engagement).first()
        chasing = chasing or ChasingSettings(engagement=engagement)
        chasing.quiet_period_days = quiet_period_days
        chasing.escalation_days = escalation_days
        history_note(chasing, actor=actor, reason="Chasing settings changed")
        chasing.save()
    return chasing
