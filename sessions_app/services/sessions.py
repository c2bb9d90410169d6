"""Creating, changing and closing a session."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import ValidationFailed
from core.history import history_note
from core.locking import ensure_open, lock
from core.storage import files_removed_on_error
from recalc.models import RecalcJob
from recalc.services import recalc_job_enqueue
from sessions_app.models import (
    Engagement,
    ImportProfile,
    ProcessingSession,
    ReceiptVersion,
)
from sessions_app.services.uploads import (
    _card_lines_store,
    _money,
    _receipt_version_store,
    _validate_period,
    statement_read,
)


def session_create(
    *,
    engagement: Engagement,
    name: str,
    period_start: datetime.date,
    period_end: datetime.date,
    card_file: Any,
    actor: Any,
    tolerance: Any = "0.00",
    card_profile: ImportProfile | None = None,
    receipts_file: Any = None,
    receipts_profile: ImportProfile | None = None,
) -> ProcessingSession:
    """Open a session from a card statement (and optionally a first receipts file).

    Both files are read and validated before anything is written: a bad file stores
    nothing. The recalculation is queued when the transaction commits."""

    name = name.strip()
    if not name:
        raise ValidationFailed("A session needs a name.")
    _validate_period(period_start, period_end)
    tolerance_amount = _money(tolerance, field="Tolerance")
    currency = engagement.currency
    card = statement_read(
        card_file, profile=card_profile, label="The card statement", currency=currency
    )
    receipts = (
        statement_read(
            receipts_file, profile=receipts_profile, label="The receipts file", currency=currency
        )
        if receipts_file is not None
        else None
    )
    with files_removed_on_error() as saved, transaction.atomic():
        session = ProcessingSession(
            engagement=engagement,
            name=name,
            period_start=period_start,
            period_end=period_end,
            tolerance=tolerance_amount,
            card_sha256=card.sha256,
            card_file_name=card.name,
            card_row_count=len(card.parsed.lines),
            card_import_summary=card.parsed.summary.as_dict(),
            card_profile=card_profile,
            created_by=actor,
        )
        history_note(session, actor=actor, reason="session created")
        session.card_file.save(card.name, ContentFile(card.data), save=False)
        saved.append(session.card_file)
        session.save()
        _card_lines_store(session, card.parsed)
        version = None
        if receipts is not None:
            version = _receipt_version_store(
                session=session,
                upload=receipts,
                mode=ReceiptVersion.Mode.REPLACE,
                note="",
                profile=receipts_profile,
                actor=actor,
                saved=saved,
            )
        if engagement.default_session_id is None:
            Engagement.objects.filter(pk=engagement.pk).update(default_session=session)
        activity_event_record(
            verb=ActivityEvent.Verb.SESSION_CREATED,
            message=f"Session '{name}' created with {len(card.parsed.lines)} card lines"
            + (f" and receipts v1 ({len(receipts.parsed.lines)} lines)" if receipts else ""),
            actor=actor,
            session=session,
            details={
                "card_file": card.name,
                "card_sha256": card.sha256,
                "card_lines": len(card.parsed.lines),
                "card_subtotals_skipped": len(card.parsed.subtotals),
                "receipts_version": version.version if version else None,
            },
        )
        recalc_job_enqueue(
            session=session, kind=RecalcJob.Kind.INITIAL, actor=actor, receipt_version=version
        )
    return session


def session_update(
    *, session: ProcessingSession, actor: Any, name: str | None = None, tolerance: Any = None
) -> ProcessingSession:
    """Rename a session or change its tolerance; a tolerance change recalculates."""

    ensure_open(session)
    with transaction.atomic():
        session = lock(session)
        ensure_open(session)
        changes: dict[str, Any] = {}
        if name is not None and name.strip() and name.strip() != session.name:
            changes["name"] = [session.name, name.strip()]
            session.name = name.strip()
        new_tolerance = _money(tolerance, field="Tolerance") if tolerance is not None else None
        if new_tolerance is not None and new_tolerance != session.tolerance:
            changes["tolerance"] = [str(session.tolerance), str(new_tolerance)]
            session.tolerance = new_tolerance
        if not changes:
            return session
        history_note(session, actor=actor, reason="session updated: " + ", ".join(changes))
        session.save()
        activity_event_record(
            verb=ActivityEvent.Verb.SESSION_UPDATED,
            message="Session updated: "
            + "; ".join(f"{field} {old} → {new}" for field, (old, new) in changes.items()),
            actor=actor,
            session=session,
            details=changes,
        )
        if "tolerance" in changes:
            recalc_job_enqueue(session=session, kind=RecalcJob.Kind.TOLERANCE, actor=actor)
    return session
