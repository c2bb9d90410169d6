"""Reading card statements and receipts reports (SPEC §4) into exact, checked lines."""

from __future__ import annotations

from .amounts import AmountFormatError, parse_amount
from .columns import ALIASES, REQUIRED_ROLES, ROLE_LABELS, ROLES, ColumnsNotFound
from .parser import ControlTotal, ParsedFile, ParsedLine, SubtotalRow, parse_statement
from .profile import ImportSettings

__all__ = [
    "ALIASES",
    "REQUIRED_ROLES",
    "ROLES",
    "ROLE_LABELS",
    "AmountFormatError",
    "ColumnsNotFound",
    "ControlTotal",
    "ImportSettings",
    "ParsedFile",
    "ParsedLine",
    "SubtotalRow",
    "parse_amount",
    "parse_statement",
]
