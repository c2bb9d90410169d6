"""Reading an uploaded statement and storing its lines: shared by session creation,
receipt uploads and card replacement."""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import Max
from django.db.models.fields.files import FieldFile

from core.bulk import lines_insert
from core.errors import (
    DuplicateFile,
    InvalidFile,
    RowError,
    ValidationFailed,
)
from core.history import history_note
from sessions_app.digests import receipt_digests_store
from sessions_app.ingestion import ImportSettings, ParsedFile, parse_statement
from sessions_app.models import (
    CardTransaction,
    ImportProfile,
    ProcessingSession,
    ReceiptLine,
    ReceiptVersion,
)
from sessions_app.reconciliation import skip_held_duplicates
from sessions_app.versions import receipt_lines_in_effect


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


def _money(value: Any, *, field: str) -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{field} must be an amount like 1.00.") from None
    if amount < 0:
        raise ValidationFailed(f"{field} cannot be negative.")
    return amount


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
    history_note(version, actor=actor, reason=f"receipts v{number} uploaded")
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
    receipt_digests_store(
        version,
        (
            (line.employee_id, line.line_number, line.date, line.amount, line.receipt_id[:100],
             line.merchant[:300])
            for line in lines
        ),
    )  # fmt: skip
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
            f"{earlier.uploaded_at:%Y-%m-%d %H:%M %Z} by {who}. To keep it as a new "
            "version, upload it again choosing “Store it anyway” (force in the API).",
            details={"version": earlier.version, "uploaded_by": who},
        )
