"""Writes of the sessions domain. Pages, API, admin and commands all call these."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.text import slugify

from audit.models import ActivityEvent
from audit.services import activity_event_record
from recalc.lines import lines_insert
from sessions_app.errors import (
    CardReplaceNotAllowed,
    DomainError,
    DuplicateFile,
    InvalidFile,
    InvalidState,
    RowError,
    SessionClosed,
    StaleVersion,
    ValidationFailed,
)
from sessions_app.ingestion import ImportSettings, ParsedFile, parse_statement
from sessions_app.models import (
    CardTransaction,
    EmployeeRevision,
    Engagement,
    ImportProfile,
    Membership,
    ProcessingSession,
    ReceiptLine,
    ReceiptVersion,
    UserPreference,
)
from sessions_app.reconciliation import skip_held_duplicates
from sessions_app.selectors import receipt_lines_in_effect

if TYPE_CHECKING:
    from recalc.models import RecalcJob


@dataclass(frozen=True)
class UploadedStatement:
    """An uploaded file, read once: its bytes, name, digest and parsed lines."""

    name: str
    data: bytes
    sha256: str
    parsed: ParsedFile

    @property
    def size(self) -> int:
        return len(self.data)


def statement_read(
    file: Any,
    *,
    profile: ImportProfile | None = None,
    label: str = "The file",
    currency: str | None = None,
) -> UploadedStatement:
    """Read and validate an upload completely before anything is stored. With
    `currency` (the engagement's), a profile's currency column must hold it."""
    limit = settings.UPLOAD_MAX_MB * 1024 * 1024
    size = getattr(file, "size", None)
    if size is not None and size > limit:
        raise InvalidFile(
            [RowError(None, None, None, f"{label} is larger than {settings.UPLOAD_MAX_MB} MB.")],
            file_label=label,
        )
    file.seek(0)
    data = file.read()
    import_settings = ImportSettings.from_dict(profile.as_settings_dict()) if profile else None
    parsed = parse_statement(
        data, settings=import_settings, file_label=label, max_bytes=limit, currency=currency
    )
    name = (getattr(file, "name", "") or "upload.csv").rsplit("/", 1)[-1][:150]
    return UploadedStatement(
        name=name, data=data, sha256=hashlib.sha256(data).hexdigest(), parsed=parsed
    )


@contextmanager
def files_removed_on_error() -> Iterator[list[FieldFile]]:
    """Files saved inside a transaction that then fails must not stay behind."""
    saved: list[FieldFile] = []
    try:
        yield saved
    except BaseException:
        for field_file in saved:
            if field_file.name:
                default_storage.delete(field_file.name)
        raise


def _money(value: Any, *, field: str) -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{field} must be an amount like 1.00.") from None
    if amount < 0:
        raise ValidationFailed(f"{field} cannot be negative.")
    return amount


def _closed_error(session: ProcessingSession) -> SessionClosed:
    return SessionClosed(
        f"Session '{session.name}' was closed on {session.closed_at:%Y-%m-%d}; "
        "it can be viewed and its exports downloaded, not changed."
    )


def _ensure_open(session: ProcessingSession) -> None:
    if session.is_closed:
        raise _closed_error(session)


def _lock_session(session: ProcessingSession) -> ProcessingSession:
    return ProcessingSession.objects.select_for_update().get(pk=session.pk)


# --- Engagements ------------------------------------------------------------------------------


def engagement_create(*, name: str, actor: Any = None) -> Engagement:
    name = name.strip()
    slug = slugify(name)
    if not slug:
        raise ValidationFailed("An engagement needs a name with letters or digits.")
    if Engagement.objects.filter(slug=slug).exists():
        raise ValidationFailed(f"An engagement with the slug '{slug}' already exists.")
    with transaction.atomic():
        engagement = Engagement(name=name, slug=slug)
        engagement._history_user = _user_or_none(actor)  # type: ignore[attr-defined]
        engagement._change_reason = "engagement created"  # type: ignore[attr-defined]
        engagement.save()
        activity_event_record(
            verb=ActivityEvent.Verb.ENGAGEMENT_CREATED,
            message=f"Engagement '{name}' created",
            actor=actor,
            engagement=engagement,
        )
    return engagement


def membership_grant(
    *, engagement: Engagement, user: Any, role: str = Membership.Role.OPERATOR, actor: Any = None
) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationFailed(f"Unknown role '{role}': use operator or viewer.")
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(
            user=user, engagement=engagement, defaults={"role": role}
        )
        preference, _ = UserPreference.objects.get_or_create(user=user)
        if preference.default_engagement_id is None:
            preference.default_engagement = engagement
            preference.save(update_fields=["default_engagement"])
        activity_event_record(
            verb=ActivityEvent.Verb.MEMBERSHIP_GRANTED,
            message=f"{user.get_username()} is {role} of '{engagement.name}'",
            actor=actor,
            engagement=engagement,
            details={"user": user.get_username(), "role": role},
        )
    return membership


def membership_revoke(*, engagement: Engagement, user: Any, actor: Any = None) -> None:
    """Take a user out of an engagement; their past actions stay in the audit trail."""
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(user=user, engagement=engagement).delete()
        if not deleted:
            raise ValidationFailed(f"{user.get_username()} is not a member of '{engagement.name}'.")
        UserPreference.objects.filter(user=user, default_engagement=engagement).update(
            default_engagement=None
        )
        UserPreference.objects.filter(user=user, current_session__engagement=engagement).update(
            current_session=None
        )
        activity_event_record(
            verb=ActivityEvent.Verb.MEMBERSHIP_REVOKED,
            message=f"{user.get_username()} removed from '{engagement.name}'",
            actor=actor,
            engagement=engagement,
            details={"user": user.get_username()},
        )


def import_profile_save(
    *, engagement: Engagement, data: dict[str, Any], actor: Any = None
) -> ImportProfile:
    """Create or update a named import profile; its settings are validated by the parser's
    own reading of them, so a profile that saves is a profile that parses."""
    name = str(data.get("name", "")).strip()
    if not name:
        raise ValidationFailed("An import profile needs a name.")
    import_settings = ImportSettings.from_dict(data)
    fields = {
        "delimiter": import_settings.delimiter or "",
        "encoding": import_settings.encoding or "",
        "skip_lines": import_settings.skip_lines,
        "columns": dict(import_settings.columns),
        "decimal_separator": import_settings.decimal_separator or "",
        "date_format": str(data.get("date_format") or ""),
        "charges_negative": import_settings.charges_negative,
        "unassigned_employee_id": import_settings.unassigned_employee_id,
    }
    with transaction.atomic():
        profile, _ = ImportProfile.objects.update_or_create(
            engagement=engagement, name=name, defaults={**fields, "created_by": actor}
        )
        activity_event_record(
            verb=ActivityEvent.Verb.IMPORT_PROFILE_SAVED,
            message=f"Import profile '{name}' saved",
            actor=actor,
            engagement=engagement,
            details={"profile": name},
        )
    return profile


def user_current_session_switch(*, user: Any, session: ProcessingSession) -> UserPreference:
    preference, _ = UserPreference.objects.get_or_create(user=user)
    preference.current_session = session
    preference.default_engagement = session.engagement
    preference.save(update_fields=["current_session", "default_engagement"])
    return preference


# --- Sessions ---------------------------------------------------------------------------------


def _card_lines_store(session: ProcessingSession, parsed: ParsedFile) -> None:
    # Plain mappings through COPY on PostgreSQL: a million lines as model instances and
    # INSERTs cost five times as long.
    lines_insert(
        CardTransaction,
        (
            {
                "session_id": session.pk,
                "line_number": line.line_number,
                "employee_id": line.employee_id,
                "employee_name": line.employee_name,
                "amount": line.amount,
                "transaction_date": line.date,
                "merchant": line.merchant[:300],
            }
            for line in parsed.lines
        ),
    )


def _validate_period(period_start: datetime.date, period_end: datetime.date) -> None:
    if period_end < period_start:
        raise ValidationFailed("The period ends before it starts.")


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
    from recalc.models import RecalcJob
    from recalc.services import recalc_job_enqueue

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
        session._history_user = actor  # type: ignore[attr-defined]
        session._change_reason = "session created"  # type: ignore[attr-defined]
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


def _receipt_version_store(
    *,
    session: ProcessingSession,
    upload: UploadedStatement,
    mode: str,
    note: str,
    profile: ImportProfile | None,
    actor: Any,
    saved: list[FieldFile],
) -> ReceiptVersion:
    """Store a receipts file as the next version, keeping only the lines that count:
    in append mode a line already held is skipped and counted as a duplicate."""
    number = (session.receipt_versions.aggregate(n=Max("version"))["n"] or 0) + 1
    lines = list(upload.parsed.lines)
    duplicates = 0
    if mode == ReceiptVersion.Mode.APPEND:
        lines, duplicates = skip_held_duplicates(lines, list(receipt_lines_in_effect(session)))
    version = ReceiptVersion(
        session=session,
        version=number,
        sha256=upload.sha256,
        size=upload.size,
        file_name=upload.name,
        row_count=len(upload.parsed.lines),
        import_summary=upload.parsed.summary.as_dict(),
        duplicate_count=duplicates,
        mode=mode,
        note=note,
        profile=profile,
        uploaded_by=actor,
    )
    version._history_user = actor  # type: ignore[attr-defined]
    version._change_reason = f"receipts v{number} uploaded"  # type: ignore[attr-defined]
    version.file.save(upload.name, ContentFile(upload.data), save=False)
    saved.append(version.file)
    version.save()
    lines_insert(
        ReceiptLine,
        (
            {
                "session_id": session.pk,
                "receipt_version_id": version.pk,
                "line_number": line.line_number,
                "employee_id": line.employee_id,
                "employee_name": line.employee_name,
                "amount": line.amount,
                "receipt_date": line.date,
                "receipt_id": line.receipt_id[:100],
                "merchant": line.merchant[:300],
            }
            for line in lines
        ),
    )
    return version


def _refuse_duplicate_upload(session: ProcessingSession, sha256: str) -> None:
    earlier = (
        session.receipt_versions.filter(sha256=sha256)
        .select_related("uploaded_by")
        .order_by("version")
        .first()
    )
    if earlier is not None:
        who = earlier.uploaded_by.get_username() if earlier.uploaded_by else "system"
        raise DuplicateFile(
            f"This file is identical to version {earlier.version} uploaded on "
            f"{earlier.uploaded_at:%Y-%m-%d %H:%M} by {who}. Upload it again with "
            "'force' to store it anyway.",
            details={"version": earlier.version, "uploaded_by": who},
        )


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
    from recalc.models import RecalcJob
    from recalc.services import recalc_job_enqueue

    if mode not in ReceiptVersion.Mode.values:
        raise ValidationFailed(f"Unknown mode '{mode}': use replace or append.")
    _ensure_open(session)
    upload = statement_read(
        file, profile=profile, label="The receipts file", currency=session.engagement.currency
    )
    with files_removed_on_error() as saved, transaction.atomic():
        session = _lock_session(session)
        _ensure_open(session)
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
    from recalc.models import RecalcJob
    from recalc.services import recalc_job_enqueue

    _ensure_open(session)
    with transaction.atomic():
        session = _lock_session(session)
        _ensure_open(session)
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
        version._history_user = actor  # type: ignore[attr-defined]
        version._change_reason = f"rollback to v{version_number}"  # type: ignore[attr-defined]
        version.save()
        for line in held:
            line.pk = None
            line.receipt_version = version
        lines_insert(ReceiptLine, held)
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


# --- Card statement replacement ---------------------------------------------------------------


def card_replace_refusal(session: ProcessingSession) -> DomainError | None:
    """Why the card statement cannot be replaced now, or None when it can (SPEC §7: only
    before the first pVault export). A voided pVault batch counts as well: its file may
    already have been imported by pVault, which computed what it holds from this statement."""
    from exports.models import ExportBatch

    if session.is_closed:
        return _closed_error(session)
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
        f"session '{session.name}'. Upload it again with 'force' to replace it anyway.",
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
    from recalc.models import RecalcJob
    from recalc.services import recalc_job_enqueue

    note = (note or "").strip()
    _ensure_card_replaceable(session)
    if profile is not None and profile.engagement_id != session.engagement_id:
        raise ValidationFailed(f"Import profile '{profile.name}' belongs to another engagement.")
    card = statement_read(
        file, profile=profile, label="The card statement", currency=session.engagement.currency
    )
    with files_removed_on_error() as saved, transaction.atomic():
        session = _lock_session(session)
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
    session._history_user = actor  # type: ignore[attr-defined]
    session._change_reason = "card statement replaced"  # type: ignore[attr-defined]
    session.save()
    CardTransaction.objects.filter(session=session).delete()
    _card_lines_store(session, card.parsed)


def session_update(
    *, session: ProcessingSession, actor: Any, name: str | None = None, tolerance: Any = None
) -> ProcessingSession:
    """Rename a session or change its tolerance; a tolerance change recalculates."""
    from recalc.models import RecalcJob
    from recalc.services import recalc_job_enqueue

    _ensure_open(session)
    with transaction.atomic():
        session = _lock_session(session)
        _ensure_open(session)
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
        session._history_user = actor  # type: ignore[attr-defined]
        session._change_reason = "session updated: " + ", ".join(changes)  # type: ignore[attr-defined]
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


def session_close(*, session: ProcessingSession, reason: str, actor: Any) -> ProcessingSession:
    """Close a session for good. Refused while a recalculation is running."""
    from sessions_app.selectors import active_job_for

    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Closing a session needs a reason.")
    with transaction.atomic():
        session = _lock_session(session)
        _ensure_open(session)
        job = active_job_for(session)
        if job is not None:
            from sessions_app.errors import JobActive

            raise JobActive(
                f"Job {job.pk} is still {job.status}; wait for it or cancel it first.",
                details={"job": job.pk},
            )
        session.status = ProcessingSession.Status.CLOSED
        session.closed_at = timezone.now()
        session.closed_by = actor
        session.closure_reason = reason
        session._history_user = actor  # type: ignore[attr-defined]
        session._change_reason = f"closed: {reason}"[:100]  # type: ignore[attr-defined]
        session.save()
        activity_event_record(
            verb=ActivityEvent.Verb.SESSION_CLOSED,
            message=f"Session '{session.name}' closed: {reason}",
            actor=actor,
            session=session,
            details={"reason": reason},
        )
    return session


def revision_resolve(
    *, revision: EmployeeRevision, note: str, expected_version: int, actor: Any
) -> EmployeeRevision:
    """Accept an exception with a note. The caller sends the version it saw: a revision
    changed since then is refused, saying who changed it and when."""
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("Resolving an exception needs a note.")
    with transaction.atomic():
        session = _lock_session(revision.session)
        _ensure_open(session)
        current = EmployeeRevision.objects.select_for_update().get(pk=revision.pk)
        if current.version != int(expected_version):
            raise _stale(current, int(expected_version))
        if current.is_export_ready and current.status != EmployeeRevision.Status.RESOLVED:
            raise InvalidState(f"{current.employee_id} is {current.status}: nothing to resolve.")
        current.status = EmployeeRevision.Status.RESOLVED
        current.resolution_note = note
        current.resolved_by = actor
        current.resolved_at = timezone.now()
        current.version += 1
        current._history_user = actor  # type: ignore[attr-defined]
        current._change_reason = "resolved by operator"  # type: ignore[attr-defined]
        current.save()
        activity_event_record(
            verb=ActivityEvent.Verb.EMPLOYEE_RESOLVED,
            message=f"{current.employee_id} resolved: {note}",
            actor=actor,
            session=session,
            details={
                "employee_id": current.employee_id,
                "note": note,
                "car_amount": str(current.car_amount),
                "receipt_amount": str(current.receipt_amount),
            },
        )
    return current


def _stale(current: EmployeeRevision, expected: int) -> StaleVersion:
    last = current.history.select_related("history_user").order_by("-history_id").first()
    who = last.history_user.get_username() if last and last.history_user else "a recalculation"
    when = f"{last.history_date:%Y-%m-%d %H:%M}" if last else "recently"
    return StaleVersion(
        f"{current.employee_id} was changed by {who} at {when} after you opened it "
        f"(version {current.version}, you saw {expected}). Reload and try again.",
        details={"current_version": current.version, "changed_by": who, "changed_at": when},
    )


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
    session._history_user = _user_or_none(actor)  # type: ignore[attr-defined]
    session._change_reason = (reason or f"status: {status}")[:100]  # type: ignore[attr-defined]
    session.save(update_fields=["status", "updated_at"])


def _user_or_none(actor: Any) -> Any:
    return actor if actor is not None and actor.is_authenticated else None
