"""The domain errors, importable from here as before; they live in `core.errors`."""

from core.errors import (
    MAX_LISTED_ROW_ERRORS,
    AlreadyVoid,
    CardReplaceNotAllowed,
    ConfirmRequired,
    DomainError,
    DuplicateFile,
    InvalidFile,
    InvalidState,
    JobActive,
    NotClosed,
    NothingToDo,
    NothingToExport,
    RowError,
    SessionClosed,
    StaleVersion,
    ValidationFailed,
)

__all__ = [
    "MAX_LISTED_ROW_ERRORS",
    "AlreadyVoid",
    "CardReplaceNotAllowed",
    "ConfirmRequired",
    "DomainError",
    "DuplicateFile",
    "InvalidFile",
    "InvalidState",
    "JobActive",
    "NotClosed",
    "NothingToDo",
    "NothingToExport",
    "RowError",
    "SessionClosed",
    "StaleVersion",
    "ValidationFailed",
]
