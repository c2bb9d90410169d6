"""Bulk operations over many sessions (admin actions and the staff API call these).

Each session is handled in its own transaction through the same service a single close
uses: one session's refusal (already closed, a job running) never stops the others, and
every outcome is reported per item."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import DomainError, ValidationFailed
from sessions_app.models import ProcessingSession
from sessions_app.services import session_close


class BulkItemResult(TypedDict):
    session_id: int
    ok: bool
    error: str | None


def sessions_bulk_close(
    *, sessions: Iterable[ProcessingSession], reason: str, actor: Any
) -> list[BulkItemResult]:
    """Close every session it can; say for each one whether it closed and why not."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Closing sessions needs a reason.")
    results: list[BulkItemResult] = []
    for session in sessions:
        try:
            session_close(session=session, reason=reason, actor=actor)
        except DomainError as exc:
            results.append({"session_id": session.pk, "ok": False, "error": exc.message})
        else:
            results.append({"session_id": session.pk, "ok": True, "error": None})
    _bulk_close_record(results, reason=reason, actor=actor)
    return results


def _bulk_close_record(results: list[BulkItemResult], *, reason: str, actor: Any) -> None:
    closed = [item["session_id"] for item in results if item["ok"]]
    refused = {str(item["session_id"]): item["error"] for item in results if not item["ok"]}
    activity_event_record(
        verb=ActivityEvent.Verb.BULK_CLOSE,
        message=f"Bulk close: {len(closed)} closed, {len(refused)} refused ({reason})",
        actor=actor,
        details={"reason": reason, "closed": closed, "refused": refused},
    )
