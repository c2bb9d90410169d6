"""The session lifecycle moves made by jobs, and the rules they keep: a move is saved with
a history row, so a session's state "as of" any moment can be answered, and a closed
session is never reopened. Imports nothing above the sessions models, so every app may call
it."""

from __future__ import annotations

from typing import Any

from core.history import history_note
from sessions_app.models import ProcessingSession


def session_status_set(
    *, session_id: int, status: str, actor: Any = None, reason: str = ""
) -> None:
    """Lifecycle moves made by jobs, saved with a history row so a session's state "as of"
    any moment can be answered. A closed session is never reopened."""
    session = (
        ProcessingSession.objects.select_for_update()
        .filter(pk=session_id)
        .exclude(status=ProcessingSession.Status.CLOSED)
        .first()
    )
    if session is None or session.status == status:
        return
    session.status = status
    history_note(session, actor=actor, reason=reason or f"status: {status}")
    session.save(update_fields=["status", "updated_at"])
