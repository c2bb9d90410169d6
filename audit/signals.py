"""Failed logins and the lockouts they lead to are audit events too (SPEC §8, §9)."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
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


@receiver(user_locked_out)
def record_lockout(
    sender: Any, request: Any = None, username: str | None = None, ip_address: Any = None, **_: Any
) -> None:
    username = str(username or "")[:150]
    activity_event_record(
        verb=ActivityEvent.Verb.LOGIN_LOCKED_OUT,
        message=f"Login locked out for '{username}' from {ip_address or 'an unknown address'}",
        actor_label=username or "unknown",
        details={"username": username, "ip_address": str(ip_address or "")},
    )
