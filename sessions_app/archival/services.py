"""Archiving a closed session, one or many."""

from __future__ import annotations

import datetime
import logging
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

from django.core.files.storage import Storage
from django.db import models, transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import DomainError, InvalidState, NotClosed
from core.faults import fault_point
from core.history import history_note
from sessions_app.archival.format import (
    ARCHIVED,
    FAILED,
    SKIPPED,
    TABLES,
    WOULD_ARCHIVE,
    ArchiveProgress,
    ArchiveResult,
    RowsCallback,
    _file_copy,
    _object_save,
    _objects_delete,
    _objects_verify,
    _original_files,
    _table_dump,
    _temporary_file,
    archive_storage,
    compression_ratio,
)
from sessions_app.archival.manifest import _manifest_build, _manifest_save
from sessions_app.models import (
    CardTransaction,
    Engagement,
    ProcessingSession,
    ReceiptLine,
)

logger = logging.getLogger(__name__)

# --- Archiving --------------------------------------------------------------------------------


def _new_location(session: ProcessingSession) -> str:
    # A fresh folder per attempt: a failed attempt can never mix with a later one.
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%fZ")
    return f"{session.engagement.slug}/session-{session.pk}/{stamp}"


def _archive_write(
    session: ProcessingSession,
    actor: Any,
    storage: Storage,
    location: str,
    written: list[str],
    on_rows: RowsCallback | None,
) -> dict[str, Any]:
    """Write every object, read all of them back, and only then the manifest."""
    tables: dict[str, dict[str, Any]] = {}
    objects: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        for table in TABLES:
            spool = stack.enter_context(_temporary_file())
            figures = _table_dump(table, session, spool, on_rows)
            objects[table.object_name] = _object_save(
                storage, location, table.object_name, spool, written
            )
            fields = [f.attname for f in table.fields] + [key for key, _ in table.extra]
            tables[table.key] = {"object": table.object_name, "fields": fields}
            tables[table.key].update(figures.as_manifest())
        for source in _original_files(session):
            name, entry = _file_copy(storage, location, source, stack, written)
            objects[name] = entry
    manifest = _manifest_build(session, actor, tables, objects)
    with ExitStack() as stack:
        _objects_verify(storage, location, manifest, stack)
    _manifest_save(storage, location, manifest, written)
    return manifest


class _ArchivedMeanwhile(Exception):
    """Another run archived the session while this one was writing."""


def _lines_match(session: ProcessingSession, manifest: dict[str, Any]) -> None:
    """The rows about to be deleted are exactly the rows archived (a closed session's lines
    do not change, but a delete is not the place to assume it)."""
    for table in TABLES:
        recorded = manifest["tables"][table.key]
        # Summed as whole cents: SQLite keeps decimals as floats, and a float sum of a
        # million amounts is off by a fraction of a cent.
        held = table.model._default_manager.filter(session=session).aggregate(
            rows=Count("pk"), cents=Sum(Round(F("amount") * 100))
        )
        cents = Decimal(str(held["cents"] or 0))
        if (held["rows"], cents) != (recorded["rows"], Decimal(recorded["amount_sum"]) * 100):
            raise InvalidState(
                f"The {table.key} of session '{session.name}' changed while it was archived; "
                "nothing was deleted."
            )


def _archive_commit(
    session: ProcessingSession, manifest: dict[str, Any], location: str, actor: Any
) -> ProcessingSession:
    totals = manifest["totals"]
    with transaction.atomic():
        locked = ProcessingSession.objects.select_for_update().get(pk=session.pk)
        if locked.archived_at is not None:
            raise _ArchivedMeanwhile
        _lines_match(locked, manifest)
        for table in TABLES:
            table.model._default_manager.filter(session=locked).delete()
        locked.archived_at = timezone.now()
        locked.archive_location = location
        history_note(locked, actor=actor, reason=f"lines archived to {location}")
        locked.save(update_fields=["archived_at", "archive_location", "updated_at"])
        fault_point("archive.lines_removed", locked)
        ratio = compression_ratio(totals["bytes_before"], totals["bytes_after"])
        activity_event_record(
            verb=ActivityEvent.Verb.SESSION_ARCHIVED,
            message=f"Session '{locked.name}' archived: {totals['rows']} lines to {location}",
            actor=actor,
            session=locked,
            details={
                "location": location,
                "manifest_sha256": manifest["seal"],
                "rows": totals["rows"],
                "bytes_before": totals["bytes_before"],
                "bytes_after": totals["bytes_after"],
                "files_bytes": totals["files_bytes"],
                "ratio": str(ratio) if ratio is not None else None,
                "card_amount_sum": manifest["tables"]["card_transactions"]["amount_sum"],
                "receipt_amount_sum": manifest["tables"]["receipt_lines"]["amount_sum"],
            },
        )
    return locked


def _skipped(session: ProcessingSession, message: str) -> ArchiveResult:
    return ArchiveResult(
        session_id=session.pk,
        session_name=session.name,
        outcome=SKIPPED,
        message=message,
        location=session.archive_location,
    )


def session_archive(
    *,
    session: ProcessingSession,
    actor: Any,
    storage: Storage | None = None,
    on_rows: RowsCallback | None = None,
) -> ArchiveResult:
    """Move a closed session's lines to archive storage, verified, then delete them."""
    storage = storage or archive_storage()
    session = ProcessingSession.objects.select_related("engagement").get(pk=session.pk)
    if session.archived_at is not None:
        return _skipped(
            session,
            f"Session '{session.name}' is already archived "
            f"(on {session.archived_at:%Y-%m-%d}, to {session.archive_location}).",
        )
    if not session.is_closed:
        raise NotClosed(
            f"Only closed sessions can be archived: '{session.name}' is {session.status}."
        )
    location = _new_location(session)
    written: list[str] = []
    try:
        manifest = _archive_write(session, actor, storage, location, written, on_rows)
        _archive_commit(session, manifest, location, actor)
    except _ArchivedMeanwhile:
        _objects_delete(storage, written)
        session.refresh_from_db()
        return _skipped(session, f"Session '{session.name}' was archived by another run.")
    except BaseException:
        _objects_delete(storage, written)
        raise
    totals = manifest["totals"]
    return ArchiveResult(
        session_id=session.pk,
        session_name=session.name,
        outcome=ARCHIVED,
        message=f"Archived {totals['rows']} lines to {location}.",
        location=location,
        rows=totals["rows"],
        bytes_before=totals["bytes_before"],
        bytes_after=totals["bytes_after"],
    )


# --- Archiving many ---------------------------------------------------------------------------


def _line_count(model: type[models.Model]) -> Coalesce:
    counts = (
        model._default_manager.filter(session=OuterRef("pk"))
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts[:1]), Value(0))


def archive_candidates(
    *, closed_before: datetime.date | datetime.datetime, engagement: Engagement | None = None
) -> QuerySet[ProcessingSession]:
    """Closed, not yet archived sessions closed before a date, with their line counts."""
    if not isinstance(closed_before, datetime.datetime):
        closed_before = datetime.datetime.combine(closed_before, datetime.time.min)
    if timezone.is_naive(closed_before):
        closed_before = timezone.make_aware(closed_before)
    sessions = ProcessingSession.objects.filter(
        status=ProcessingSession.Status.CLOSED,
        archived_at__isnull=True,
        closed_at__lt=closed_before,
    )
    if engagement is not None:
        sessions = sessions.filter(engagement=engagement)
    return (
        sessions.select_related("engagement")
        .annotate(card_rows=_line_count(CardTransaction), receipt_rows=_line_count(ReceiptLine))
        .order_by("closed_at", "pk")
    )


def _archive_one(
    session: ProcessingSession, actor: Any, storage: Storage | None, on_rows: RowsCallback | None
) -> ArchiveResult:
    try:
        return session_archive(session=session, actor=actor, storage=storage, on_rows=on_rows)
    except Exception as exc:  # one session's failure must not stop the others
        if isinstance(exc, DomainError):
            reason = exc.message
            logger.warning("Archiving session %s refused: %s", session.pk, reason)
        else:
            reason = f"{type(exc).__name__}: {exc}"
            logger.exception("Archiving session %s failed", session.pk)
        return ArchiveResult(
            session_id=session.pk, session_name=session.name, outcome=FAILED, message=reason
        )


def sessions_archive_closed_before(
    *,
    closed_before: datetime.date | datetime.datetime,
    engagement: Engagement | None = None,
    dry_run: bool = False,
    actor: Any = None,
    storage: Storage | None = None,
    progress: ArchiveProgress | None = None,
) -> list[ArchiveResult]:
    """Archive every closed session closed before a date; a dry run only counts."""
    candidates = list(archive_candidates(closed_before=closed_before, engagement=engagement))
    if progress:
        total = sum(s.card_rows + s.receipt_rows for s in candidates)  # type: ignore[attr-defined]
        progress.begin(sessions=len(candidates), rows=total)
    results = []
    for session in candidates:
        if dry_run:
            result = _would_archive(session)
            if progress:
                progress.advance(result.rows)
        else:
            result = _archive_one(session, actor, storage, progress.advance if progress else None)
        results.append(result)
        if progress:
            progress.session_done(result)
    return results


def _would_archive(session: ProcessingSession) -> ArchiveResult:
    rows = session.card_rows + session.receipt_rows  # type: ignore[attr-defined]
    return ArchiveResult(
        session_id=session.pk,
        session_name=session.name,
        outcome=WOULD_ARCHIVE,
        message=f"Would archive {rows} lines.",
        rows=rows,
    )
