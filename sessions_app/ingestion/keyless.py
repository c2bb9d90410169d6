"""Rows without an employee key (SPEC §4): a labelled summary row, a charge without an
employee id, or an unlabelled summary row. Nothing here is on the path of a usual line."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .amounts import AmountFormatError, parse_amount
from .columns import fold_accents, normalise_header
from .reader import Cell, RawRow

# "Subtotal", "Sub-total", "SUB TOTAL" are block sums, not the file's control total.
SUBTOTAL = re.compile(r"sub[\s\-_]*totals?")
# A key or name cell holding only such a label names no employee.
TOTAL_LABEL = re.compile(r"(grand\s*)?(sub[\s\-_]*)?totals?\s*:?")
# Only a text starting with one of these can be such a label (no other character
# lowercases to g, s or t), so most keys need no regular expression at all.
LABEL_INITIALS = frozenset("gGsStT")
_TOTAL_WORD = re.compile(r"\b(sub[\s\-_]*)?totals?\b|\bsubtotals?\b")
_WORD = re.compile(r"[^\W\d_]+")
# A label is short: "Grand total", "Total for cardholder Jane Smith", "Sum total amount".
_MAX_LABEL_WORDS = 6
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
# Headers of columns that, filled in, show a row is a charge even when no role maps them.
_EVIDENCE_WORDS = (
    "date",
    "data",
    "merchant",
    "description",
    "descricao",
    "vendor",
    "supplier",
    "payee",
    "favorecido",
    "estabelecimento",
    "reference",
    "transaction",
    "transacao",
    "receipt",
    "invoice",
    "mcc",
    "card",
    "cartao",
)
_NOT_EVIDENCE_WORDS = ("amount", "amt", "value", "valor", "total", "balance", "vat", "tax", "curr")


def person(text: str) -> str:
    """The text of a key or name cell, or "" when it is only a label like "Total"."""
    if text and text[0] in LABEL_INITIALS and TOTAL_LABEL.fullmatch(text.lower()):
        return ""
    return text


def is_total_label(text: str) -> bool:
    lowered = fold_accents(text).lower()
    if not _TOTAL_WORD.search(lowered):
        return False
    return len(_WORD.findall(lowered)) <= _MAX_LABEL_WORDS


def evidence_columns(headers: Sequence[str], index: Mapping[str, int]) -> tuple[int, ...]:
    """Columns no role maps whose header says they hold transaction data."""
    taken = set(index.values())
    columns = []
    for position, header in enumerate(headers):
        name = normalise_header(header)
        if position in taken or not name or any(word in name for word in _NOT_EVIDENCE_WORDS):
            continue
        if any(word in name for word in _EVIDENCE_WORDS):
            columns.append(position)
    return tuple(columns)


@dataclass(frozen=True)
class KeylessRow:
    """How a row naming nobody reads: its summary label ("total", "subtotal" or None)
    and whether it carries transaction data."""

    label: str | None
    carries_transaction: bool


def classify(
    row: RawRow,
    *,
    index: Mapping[str, int],
    evidence: tuple[int, ...],
    separator: str,
) -> KeylessRow:
    amount_at = index["amount"]
    date_at = index.get("date")
    has_date = (
        date_at is not None
        and date_at < len(row.texts)
        and bool(row.texts[date_at])
        and not is_total_label(row.texts[date_at])
    )
    labels = []
    other_text = False
    for position, text in enumerate(row.texts):
        if not text or position == amount_at:
            continue
        if is_total_label(text):
            labels.append(text)
        elif not _amount_or_code(row.cells[position], text, separator):
            other_text = True
    label = None
    if labels and not other_text and not has_date:
        label = "subtotal" if any(SUBTOTAL.search(text.lower()) for text in labels) else "total"
    transaction_roles = [
        index[role] for role in ("date", "merchant", "receipt_id") if role in index
    ]
    carries = any(
        position < len(row.texts) and row.texts[position]
        for position in (*transaction_roles, *evidence)
    )
    return KeylessRow(label, carries)


def _amount_or_code(cell: Cell, text: str, separator: str) -> bool:
    """A number, an amount or a currency code: what a summary row may hold besides a label."""
    if not isinstance(cell, str) or _CURRENCY_CODE.fullmatch(text):
        return True
    try:
        parse_amount(text, decimal_separator=separator)
    except AmountFormatError:
        return False
    return True


def cells_text(row: RawRow, headers: Sequence[str]) -> str:
    """The row's filled cells as `Header: value`, for a message naming them."""
    parts = []
    for position, text in enumerate(row.texts):
        if text:
            header = headers[position] if position < len(headers) else f"column {position + 1}"
            parts.append(f"{header[:40]}: {text[:60]}")
    return "; ".join(parts)[:300]
