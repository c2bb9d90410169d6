"""Reading card statements and receipts reports (SPEC §4) into exact, checked lines."""

from __future__ import annotations

from .amounts import AmountFormatError, parse_amount
from .columns import ALIASES, REQUIRED_ROLES, ROLE_LABELS, ROLES, ColumnsNotFound
from .parser import parse_statement, suggest_profile_for
from .profile import ImportSettings
from .results import (
    ControlTotal,
    ImportSummary,
    ParsedFile,
    ParsedLine,
    SubtotalRow,
    import_summary_sentence,
)
from .suggest import suggest_profile

__all__ = [
    "ALIASES",
    "REQUIRED_ROLES",
    "ROLES",
    "ROLE_LABELS",
    "AmountFormatError",
    "ColumnsNotFound",
    "ControlTotal",
    "ImportSettings",
    "ImportSummary",
    "ParsedFile",
    "ParsedLine",
    "SubtotalRow",
    "import_summary_sentence",
    "parse_amount",
    "parse_statement",
    "suggest_profile",
    "suggest_profile_for",
]
