"""Failed logins are audit events too (SPEC §8)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from audit.models import ActivityEvent
from audit.services import activity_event_record


@receiver(user_login_failed)
def record_failed_login(
    sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    activity_event_record(
        verb=ActivityEvent.Verb.LOGIN_FAILED,
        message=f"Failed login for '{username}'",
        actor_label=username or "unknown",
        details={"username": username},
    )
