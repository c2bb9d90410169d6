"""Receipt versions: uploading one and rolling back to an earlier one."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.bulk import lines_insert
from core.errors import (
    InvalidState,
    ValidationFailed,
)
from core.history import history_note
from core.locking import ensure_open, lock
from core.storage import files_removed_on_error
from recalc.models import RecalcJob
from recalc.services import recalc_job_enqueue
from sessions_app.digests import receipt_digests_store
from sessions_app.models import (
    ImportProfile,
    ProcessingSession,
    ReceiptLine,
    ReceiptVersion,
)
from sessions_app.services.uploads import (
    _receipt_version_store,
    _refuse_duplicate_upload,
    statement_read,
)
from sessions_app.versions import receipt_lines_in_effect


def receipt_version_upload(
    *,
    session: ProcessingSession,
    file: Any,
    actor: Any,
    mode: str = ReceiptVersion.Mode.REPLACE,
    note: str = "",
    force: bool = False,
    preview: bool = False,
    profile: ImportProfile | None = None,
) -> ReceiptVersion:
    """Store a new receipts version and queue its recalculation (or its preview)."""

    if mode not in ReceiptVersion.Mode.values:
        raise ValidationFailed(f"Unknown mode '{mode}': use replace or append.")
    ensure_open(session)
    upload = statement_read(
        file, profile=profile, label="The receipts file", currency=session.engagement.currency
    )
    with files_removed_on_error() as saved, transaction.atomic():
        session = lock(session)
        ensure_open(session)
        if not force:
            _refuse_duplicate_upload(session, upload.sha256)
        version = _receipt_version_store(
            session=session,
            upload=upload,
            mode=mode,
            note=note,
            profile=profile,
            actor=actor,
            saved=saved,
        )
        activity_event_record(
            verb=ActivityEvent.Verb.RECEIPTS_UPLOADED,
            message=f"Receipts v{version.version} uploaded ({mode}, {version.row_count} lines"
            + (f", {version.duplicate_count} duplicates skipped" if version.duplicate_count else "")
            + ")",
            actor=actor,
            session=session,
            details={
                "version": version.version,
                "mode": mode,
                "file": upload.name,
                "sha256": upload.sha256,
                "rows": version.row_count,
                "duplicates": version.duplicate_count,
                "forced": force,
                "preview": preview,
            },
        )
        recalc_job_enqueue(
            session=session,
            kind=RecalcJob.Kind.RECEIPTS,
            actor=actor,
            receipt_version=version,
            preview=preview,
        )
    return version


def receipt_version_reapply(
    *, session: ProcessingSession, version_number: int, actor: Any, note: str = ""
) -> ReceiptVersion:
    """Roll back to version k: a new `replace` version holding the lines that were in
    effect as of k, then a recalculation. Nothing is deleted."""

    ensure_open(session)
    with transaction.atomic():
        session = lock(session)
        ensure_open(session)
        source = session.receipt_versions.filter(version=version_number).first()
        if source is None:
            raise ValidationFailed(f"Session '{session.name}' has no receipts v{version_number}.")
        if source.state != ReceiptVersion.State.APPLIED:
            raise InvalidState(f"Receipts v{version_number} was never applied; pick another.")
        held = list(receipt_lines_in_effect(session, upto=version_number))
        number = (session.receipt_versions.aggregate(n=Max("version"))["n"] or 0) + 1
        version = ReceiptVersion(
            session=session,
            version=number,
            sha256=source.sha256,
            size=source.size,
            file_name=source.file_name,
            file=source.file.name,
            row_count=len(held),
            # The copy reads as the file of v{k} did (an append version's own summary).
            import_summary=source.import_summary,
            mode=ReceiptVersion.Mode.REPLACE,
            note=note or f"rollback to v{version_number}",
            copied_from=source,
            uploaded_by=actor,
        )
        history_note(version, actor=actor, reason=f"rollback to v{version_number}")
        version.save()
        for line in held:
            line.pk = None
            line.receipt_version = version
        lines_insert(ReceiptLine, held)
        receipt_digests_store(
            version,
            (
                (line.employee_id, line.line_number, line.receipt_date, line.amount,
                 line.receipt_id, line.merchant)
                for line in held
            ),
        )  # fmt: skip
        activity_event_record(
            verb=ActivityEvent.Verb.RECEIPTS_REAPPLIED,
            message=f"Receipts v{number} created as a rollback to v{version_number}",
            actor=actor,
            session=session,
            details={"version": number, "copied_from": version_number, "lines": len(held)},
        )
        recalc_job_enqueue(
            session=session, kind=RecalcJob.Kind.ROLLBACK, actor=actor, receipt_version=version
        )
    return version
