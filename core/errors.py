"""Domain errors raised by services and turned into each door's own form.

Pages show `message`, the API answers `{"error": {"code", "message", "details"}}`
with `http_status`, admin actions report `message` per item.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class DomainError(Exception):
    code = "domain_error"
    http_status = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ValidationFailed(DomainError):
    code = "invalid"
    http_status = 400


class JobActive(DomainError):
    code = "job_active"
    http_status = 409


class UnexportedEmployees(DomainError):
    """Closing would leave export-ready employees out of pVault; details carry the count
    and amount. Only a close "anyway", with its reason, goes past it (SPEC §3)."""

    code = "unexported_employees"
    http_status = 409


class NothingToExport(DomainError):
    code = "nothing_to_export"
    http_status = 409


class ConfirmRequired(DomainError):
    code = "confirm_required"
    http_status = 409


class StaleVersion(DomainError):
    code = "stale_version"
    http_status = 409


class DuplicateFile(DomainError):
    code = "duplicate_file"
    http_status = 409


class InvalidState(DomainError):
    code = "invalid_state"
    http_status = 409


class NothingToDo(DomainError):
    """A refusal that means "nothing to do here": the item is already where the operation
    would take it, or may no longer change. Single-item doors show it like any refusal
    (each keeps its own code); bulk actions skip the item and say so with `skip_note`
    (SPEC §3), never counting it as a failure."""

    code = "nothing_to_do"
    http_status = 409
    skip_note = "nothing to do"


class SessionClosed(NothingToDo):
    code = "session_closed"
    http_status = 409
    skip_note = "the session is closed"


class AlreadyVoid(NothingToDo, InvalidState):
    code = "invalid_state"  # the API's code for a second void, kept for its clients
    http_status = 409
    skip_note = "already void"


class NotClosed(NothingToDo, InvalidState):
    """Archiving asked for a session that is still open."""

    code = "invalid_state"
    http_status = 409
    skip_note = "only closed sessions are archived"


class CardReplaceNotAllowed(DomainError):
    """The card statement of a session that went to pVault cannot be swapped: what pVault
    holds was computed from it."""

    code = "card_replace_not_allowed"
    http_status = 409


@dataclass(frozen=True)
class RowError:
    """One problem in an uploaded file. `line` is the 1-based physical line
    (or spreadsheet row); file-level problems have no line or column."""

    line: int | None
    column: str | None
    value: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


MAX_LISTED_ROW_ERRORS = 200
# Values are quoted to this many characters, and the listed errors stop before this many
# bytes of JSON, so an error response stays small whatever the file holds.
MAX_QUOTED_CHARS = 100
MAX_LISTED_BYTES = 48 * 1024


def quote_value(text: str | None, limit: int = MAX_QUOTED_CHARS) -> str | None:
    """`text` cut to `limit` characters, with an ellipsis saying it was cut."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + "…"


def _listed(errors: list[RowError]) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = []
    size = 0
    for error in errors[:MAX_LISTED_ROW_ERRORS]:
        item = {
            "line": error.line,
            "column": quote_value(error.column),
            "value": quote_value(error.value),
            "message": quote_value(error.message, 4 * MAX_QUOTED_CHARS),
        }
        size += sum(len(str(value).encode()) for value in item.values()) + 60
        if size > MAX_LISTED_BYTES:
            break
        listed.append(item)
    return listed


class InvalidFile(DomainError):
    """Any row error rejects the whole file; every error is kept, the first
    200 are listed to people, `error_count` says how many there were."""

    code = "invalid_file"
    http_status = 400

    def __init__(self, errors: list[RowError], *, file_label: str = "The file") -> None:
        self.errors = errors
        self.error_count = len(errors)
        self.file_label = file_label
        noun = "error" if self.error_count == 1 else "errors"
        message = f"{file_label} has {self.error_count} {noun}; nothing was stored."
        super().__init__(message, details=_listed(errors))
