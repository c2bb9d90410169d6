"""Replacing a session's card statement (SPEC §7)."""

from __future__ import annotations

from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.fields.files import FieldFile

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import (
    CardReplaceNotAllowed,
    DomainError,
    DuplicateFile,
    ValidationFailed,
)
from core.history import history_note
from core.locking import closed_error, lock
from core.storage import files_removed_on_error
from exports.models import ExportBatch
from recalc.models import RecalcJob
from recalc.services import recalc_job_enqueue
from sessions_app.models import (
    CardTransaction,
    ImportProfile,
    ProcessingSession,
)
from sessions_app.services.uploads import (
    UploadedStatement,
    _card_lines_store,
    statement_read,
)


def card_replace_refusal(session: ProcessingSession) -> DomainError | None:
    """Why the card statement cannot be replaced now, or None when it can (SPEC §7: only
    before the first pVault export). A voided pVault batch counts as well: its file may
    already have been imported by pVault, which computed what it holds from this statement."""

    if session.is_closed:
        return closed_error(session)
    batch = (
        ExportBatch.objects.filter(session=session, export_type=ExportBatch.ExportType.PVAULT)
        .order_by("created_at", "pk")
        .first()
    )
    if batch is None:
        return None
    voided = batch.status == ExportBatch.Status.VOID
    return CardReplaceNotAllowed(
        f"Session '{session.name}' was exported to pVault in {batch.batch_code} on "
        f"{batch.created_at:%Y-%m-%d}{' (since voided)' if voided else ''}; its card statement "
        "can no longer be replaced. Open a new session for the corrected statement.",
        details={"batch": batch.pk, "batch_code": batch.batch_code, "void": voided},
    )


def _ensure_card_replaceable(session: ProcessingSession) -> None:
    refusal = card_replace_refusal(session)
    if refusal is not None:
        raise refusal


def _identical_card_error(session: ProcessingSession) -> DuplicateFile:
    return DuplicateFile(
        f"This file is identical to the current card statement '{session.card_file_name}' of "
        f"session '{session.name}'. To use it all the same, upload it again choosing "
        "“Replace it anyway” (force in the API).",
        details={"card_file_name": session.card_file_name, "sha256": session.card_sha256},
    )


def session_card_replace(
    *,
    session: ProcessingSession,
    file: Any,
    actor: Any,
    profile: ImportProfile | None = None,
    note: str = "",
    force: bool = False,
) -> RecalcJob:
    """Replace the session's card statement (CAR) and recalculate every employee from it.

    Refused for a closed session, after any pVault export, while a job is active, and for
    the very file already in place unless forced. The file is read and validated before
    anything is written; then, in one transaction, the new file is stored (the old one stays
    in storage), the card lines are swapped and a CARD job is queued. Returns the job."""

    note = (note or "").strip()
    _ensure_card_replaceable(session)
    if profile is not None and profile.engagement_id != session.engagement_id:
        raise ValidationFailed(f"Import profile '{profile.name}' belongs to another engagement.")
    card = statement_read(
        file, profile=profile, label="The card statement", currency=session.engagement.currency
    )
    with files_removed_on_error() as saved, transaction.atomic():
        session = lock(session)
        _ensure_card_replaceable(session)
        if not force and card.sha256 == session.card_sha256:
            raise _identical_card_error(session)
        # The database's one-active-job rule decides first, so a refused replacement has
        # written nothing yet; the job only reaches a worker once all of this commits.
        job = recalc_job_enqueue(session=session, kind=RecalcJob.Kind.CARD, actor=actor)
        old = {
            "file": session.card_file_name,
            "sha256": session.card_sha256,
            "lines": session.card_row_count,
        }
        _card_statement_swap(session, card, profile=profile, actor=actor, saved=saved)
        activity_event_record(
            verb=ActivityEvent.Verb.CARD_REPLACED,
            message=f"Card statement replaced: {old['file']} ({old['lines']} lines) → "
            f"{card.name} ({len(card.parsed.lines)} lines)" + (f": {note}" if note else ""),
            actor=actor,
            session=session,
            details={
                "old_file": old["file"],
                "old_sha256": old["sha256"],
                "old_lines": old["lines"],
                "new_file": card.name,
                "new_sha256": card.sha256,
                "new_lines": len(card.parsed.lines),
                "new_subtotals_skipped": len(card.parsed.subtotals),
                "profile": profile.name if profile else None,
                "note": note,
                "forced": force,
                "job": job.pk,
            },
        )
    return job


def _card_statement_swap(
    session: ProcessingSession,
    card: UploadedStatement,
    *,
    profile: ImportProfile | None,
    actor: Any,
    saved: list[FieldFile],
) -> None:
    """The new statement's file, figures and lines in place of the old ones. The old file is
    left in storage (nothing is ever deleted); the session's history keeps its name."""
    session.card_sha256 = card.sha256
    session.card_file_name = card.name
    session.card_row_count = len(card.parsed.lines)
    session.card_import_summary = card.parsed.summary.as_dict()
    session.card_profile = profile
    session.card_file.save(card.name, ContentFile(card.data), save=False)
    saved.append(session.card_file)
    history_note(session, actor=actor, reason="card statement replaced")
    session.save()
    CardTransaction.objects.filter(session=session).delete()
    _card_lines_store(session, card.parsed)
