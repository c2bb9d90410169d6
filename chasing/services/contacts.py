"""Loading the employee directory from a CSV/XLSX file with the ingestion rules of §4:
every row error listed, nothing stored when there is one, an import summary otherwise."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from audit.models import ActivityEvent
from audit.services import activity_event_record
from chasing.models import EmployeeContact
from core.errors import InvalidFile, RowError
from core.history import history_note
from sessions_app.ingestion.columns import ALIASES, normalise_header
from sessions_app.ingestion.parser import file_table
from sessions_app.ingestion.reader import RawRow, file_error
from sessions_app.models import Engagement

FILE_LABEL = "The directory file"
MAX_CELL_CHARS = 1000
MAX_ROWS = 200_000
MAX_COLUMNS = 200
QUOTED_VALUE_CHARS = 100
DIRECTORY_COLUMNS: dict[str, tuple[str, ...]] = {
    "employee_id": ALIASES["employee_id"],
    "email": ("Email", "E-mail", "Email Address", "Employee Email", "Mail"),
    "manager_email": (
        "Manager Email",
        "Manager E-mail",
        "Manager Email Address",
        "Manager",
        "Supervisor Email",
    ),
}
REQUIRED_COLUMNS = ("employee_id", "email")


@dataclass(frozen=True)
class DirectoryRow:
    line: int
    employee_id: str
    email: str
    manager_email: str


@dataclass(frozen=True)
class DirectoryImportSummary:
    rows_read: int
    blank_rows: int
    created: int
    updated: int
    unchanged: int
    contacts: int
    file_format: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def employee_contacts_import(
    *, engagement: Engagement, data: bytes, actor: Any
) -> DirectoryImportSummary:
    """Creates or updates one contact per row (contacts absent from the file are kept).
    Any row error refuses the whole file and changes nothing."""
    max_bytes = settings.UPLOAD_MAX_MB * 1024 * 1024
    if len(data) > max_bytes:
        raise file_error(
            f"{FILE_LABEL} is larger than the {settings.UPLOAD_MAX_MB} MB limit.",
            file_label=FILE_LABEL,
        )
    table = file_table(data, file_label=FILE_LABEL)
    rows, blank_rows = _directory_rows(table.records())
    with transaction.atomic():
        counts = _store_contacts(engagement, rows, actor)
        summary = DirectoryImportSummary(
            rows_read=len(rows),
            blank_rows=blank_rows,
            contacts=EmployeeContact.objects.filter(engagement=engagement).count(),
            file_format=table.file_format,
            **counts,
        )
        activity_event_record(
            verb=ActivityEvent.Verb.CONTACTS_IMPORTED,
            message=(
                f"Employee directory loaded: {len(rows)} rows, {counts['created']} new, "
                f"{counts['updated']} updated."
            ),
            actor=actor,
            engagement=engagement,
            details=summary.as_dict(),
        )
    return summary


def _store_contacts(engagement: Engagement, rows: list[DirectoryRow], actor: Any) -> dict[str, int]:
    existing = {
        contact.employee_id: contact
        for contact in EmployeeContact.objects.filter(engagement=engagement)
    }
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for row in rows:
        contact = existing.get(row.employee_id)
        if contact is None:
            contact = EmployeeContact(engagement=engagement, employee_id=row.employee_id)
            counts["created"] += 1
        elif (contact.email, contact.manager_email) == (row.email, row.manager_email):
            counts["unchanged"] += 1
            continue
        else:
            counts["updated"] += 1
        contact.email = row.email
        contact.manager_email = row.manager_email
        history_note(contact, actor=actor, reason="Employee directory file loaded")
        contact.save()
    return counts


def _directory_rows(records: Any) -> tuple[list[DirectoryRow], int]:
    columns: dict[str, int] | None = None
    rows: list[DirectoryRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    blank_rows = 0
    for line, cells in records:
        raw = RawRow(line, tuple(cells))
        if raw.is_blank():
            if columns is not None:
                blank_rows += 1
            continue
        if columns is None:
            columns = _header_columns(raw)
            continue
        if len(rows) + len(errors) >= MAX_ROWS:
            raise file_error(
                f"{FILE_LABEL} has more than {MAX_ROWS:,} rows.", file_label=FILE_LABEL, line=line
            )
        row, row_errors = _directory_row(raw, columns)
        if row is not None and row.employee_id in seen:
            row_errors.append(
                _error(
                    line,
                    "employee_id",
                    row.employee_id,
                    f"employee id already given on line {seen[row.employee_id]}",
                )
            )
        if row_errors:
            errors.extend(row_errors)
        elif row is not None:
            seen[row.employee_id] = line
            rows.append(row)
    if columns is None:
        raise file_error(f"{FILE_LABEL} is empty.", file_label=FILE_LABEL)
    if errors:
        raise InvalidFile(errors, file_label=FILE_LABEL)
    return rows, blank_rows


def _header_columns(header: RawRow) -> dict[str, int]:
    if len(header.cells) > MAX_COLUMNS:
        raise file_error(
            f"{FILE_LABEL} has {len(header.cells)} columns; at most {MAX_COLUMNS} are read.",
            file_label=FILE_LABEL,
            line=header.line_number,
        )
    normalised = [normalise_header(text) for text in header.texts]
    found: dict[str, int] = {}
    for role, aliases in DIRECTORY_COLUMNS.items():
        for alias in aliases:
            wanted = normalise_header(alias)
            if wanted in normalised and normalised.index(wanted) not in found.values():
                found[role] = normalised.index(wanted)
                break
    missing = [role for role in REQUIRED_COLUMNS if role not in found]
    if missing:
        raise file_error(
            f"{FILE_LABEL} needs the columns {', '.join(missing)}; found "
            f"{', '.join(t for t in header.texts if t) or 'none'} (expected headers such as "
            "employee_id, email, manager_email).",
            file_label=FILE_LABEL,
            line=header.line_number,
        )
    return found


def _directory_row(
    raw: RawRow, columns: dict[str, int]
) -> tuple[DirectoryRow | None, list[RowError]]:
    values = {
        role: raw.texts[index] if index < len(raw.texts) else "" for role, index in columns.items()
    }
    errors = [
        _error(raw.line_number, role, value, f"longer than {MAX_CELL_CHARS} characters")
        for role, value in values.items()
        if len(value) > MAX_CELL_CHARS
    ]
    if errors:
        return None, errors
    employee_id = values["employee_id"]
    email = values["email"].lower()
    manager_email = values.get("manager_email", "").lower()
    if not employee_id:
        errors.append(_error(raw.line_number, "employee_id", "", "employee id is missing"))
    elif len(employee_id) > EmployeeContact._meta.get_field("employee_id").max_length:  # type: ignore[operator]
        errors.append(
            _error(raw.line_number, "employee_id", employee_id, "longer than 100 characters")
        )
    errors.extend(_email_errors(raw.line_number, "email", email, required=True))
    errors.extend(_email_errors(raw.line_number, "manager_email", manager_email, required=False))
    if errors:
        return None, errors
    return DirectoryRow(raw.line_number, employee_id, email, manager_email), []


def _email_errors(line: int, column: str, value: str, *, required: bool) -> list[RowError]:
    if not value:
        return [_error(line, column, "", "email address is missing")] if required else []
    try:
        validate_email(value)
    except ValidationError:
        return [_error(line, column, value, "not a valid email address")]
    return []


def _error(line: int, column: str, value: str, message: str) -> RowError:
    return RowError(line, column, value[:QUOTED_VALUE_CHARS], message)
