"""Row locks and the "is it still open" rule every write checks under its lock.

A write locks the session row first (`lock`), then checks it is still open
(`ensure_open`): a session closed meanwhile refuses the write with SessionClosed, whose
message says when it was closed."""

from __future__ import annotations

import datetime
from typing import Protocol, TypeVar

from django.db.models import Model

from core.errors import SessionClosed

M = TypeVar("M", bound=Model)


class Closable(Protocol):
    name: str
    closed_at: datetime.datetime | None

    @property
    def is_closed(self) -> bool: ...


def lock(instance: M) -> M:
    """The row again, read under SELECT ... FOR UPDATE (inside the caller's transaction)."""
    return type(instance)._default_manager.select_for_update().get(pk=instance.pk)


def closed_error(session: Closable) -> SessionClosed:
    return SessionClosed(
        f"Session '{session.name}' was closed on {session.closed_at:%Y-%m-%d}; "
        "it can be viewed and its exports downloaded, not changed."
    )


def ensure_open(session: Closable) -> None:
    if session.is_closed:
        raise closed_error(session)
