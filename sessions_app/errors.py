"""The domain errors, importable from here as before; they live in `core.errors`."""

from core.errors import (
    MAX_LISTED_ROW_ERRORS,
    CardReplaceNotAllowed,
    ConfirmRequired,
    DomainError,
    DuplicateFile,
    InvalidFile,
    InvalidState,
    JobActive,
    NothingToExport,
    RowError,
    SessionClosed,
    StaleVersion,
    ValidationFailed,
    quote_value,
)

__all__ = [
    "MAX_LISTED_ROW_ERRORS",
    "CardReplaceNotAllowed",
    "ConfirmRequired",
    "DomainError",
    "DuplicateFile",
    "InvalidFile",
    "InvalidState",
    "JobActive",
    "NothingToExport",
    "RowError",
    "SessionClosed",
    "StaleVersion",
    "ValidationFailed",
    "quote_value",
]
