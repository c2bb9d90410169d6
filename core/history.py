"""Who made a change and why, for django-simple-history.

simple-history reads `_history_user` and `_change_reason` off the instance when it writes
the history row; `history_note` sets both, so no service sets them by hand."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

CHANGE_REASON_MAX = 100


def actor_or_none(actor: Any) -> Any:
    """The user behind a change, or None for anonymous callers and the system."""
    return actor if getattr(actor, "is_authenticated", False) else None


def history_note(instance: Model, *, actor: Any = None, reason: str | None = None) -> None:
    """Mark the next save of `instance` with its author (None for the system) and, when
    given, the reason (cut to the column's length)."""
    instance._history_user = actor_or_none(actor)  # type: ignore[attr-defined]
    if reason is not None:
        instance._change_reason = reason[:CHANGE_REASON_MAX]  # type: ignore[attr-defined]
