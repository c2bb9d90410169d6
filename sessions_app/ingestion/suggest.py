"""A mapping proposed from a file's content when its headers match no alias (SPEC §4):
which column holds amounts, which dates, which repeated identifiers. The operator
confirms it (mapping form, API error details, `reconcile --suggest-profile`)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any

from .amounts import AmountFormatError, parse_amount
from .columns import normalise_header
from .dates import DEFAULT_DATE_FORMATS, parse_date
from .reader import RawRow, RawTable

SAMPLE_ROWS = 300
# Header words that make a column the likelier choice for a role (accents folded).
HINTS: dict[str, tuple[str, ...]] = {
    "employee_id": ("employee", "emp", "staff", "cardholder", "holder", "portador", "cpf", "card"),
    # A unit is a key too (spending by department), when no person column is found.
    "unit": ("division", "divison", "servicearea", "directorate", "department", "costcentre"),
    "employee_name": ("name", "nome", "nom", "holder", "portador"),
    "amount": ("amount", "amt", "valor", "value", "montant", "importe", "total", "gross"),
    # Parts of an amount: what a charge costs is the gross figure, not these.
    "amount_part": ("net", "vat", "gst", "hst", "pst", "tax", "tip", "fee"),
    "date": ("date", "data", "fecha", "datum", "posted"),
    "merchant": (
        "merchant",
        "supplier",
        "vendor",
        "payee",
        "favorecido",
        "estabelecimento",
        "fornecedor",
        "description",
        "descricao",
    ),
    "receipt_id": ("reference", "ref", "receipt", "invoice", "transactionid", "transactionnumber"),
}
_ISO_TOKENS = {"%Y": "yyyy", "%y": "yy", "%m": "mm", "%d": "dd", "%b": "mon", "%B": "mmmm"}


@dataclass
class _Column:
    position: int
    header: str
    values: list[str]
    amounts: float = 0.0
    decimals: float = 0.0
    dates: float = 0.0
    distinct: float = 0.0


def suggest_profile(table: RawTable) -> dict[str, Any]:
    """A profile (JSON-ready) proposed from the first rows, or {} when nothing fits."""
    rows = [RawRow(number, tuple(cells)) for number, cells in islice(table.records(), 400)]
    rows = [row for row in rows if not row.is_blank()]
    header_at = _header_index(rows)
    if header_at is None:
        return {}
    header = rows[header_at].texts
    body = [row.texts for row in rows[header_at + 1 : header_at + 1 + SAMPLE_ROWS]]
    if not body:
        return {}
    separator = _decimal_separator(body)
    columns = [_measure(position, text, body, separator) for position, text in enumerate(header)]
    mapping = _choose(columns)
    if "amount" not in mapping or "employee_id" not in mapping:
        return {}
    profile: dict[str, Any] = {
        "name": "Suggested profile",
        "skip_lines": rows[header_at].line_number - 1,
        "columns": {role: columns[position].header for role, position in mapping.items()},
        "decimal_separator": separator,
    }
    if table.delimiter:
        profile["delimiter"] = table.delimiter
    date_format = _date_format(columns[mapping["date"]].values) if "date" in mapping else None
    if date_format:
        profile["date_format"] = date_format
    return profile


def _header_index(rows: list[RawRow]) -> int | None:
    """The first row of two or more filled cells, most of them words, not numbers."""
    for index, row in enumerate(rows[:30]):
        filled = [text for text in row.texts if text]
        words = [text for text in filled if any(char.isalpha() for char in text)]
        if len(filled) >= 2 and len(words) >= max(2, len(filled) * 0.7):
            return index
    return None


def _decimal_separator(body: list[tuple[str, ...]]) -> str:
    comma = sum(1 for row in body for text in row if _comma_decimal(text))
    point = sum(1 for row in body for text in row if _point_decimal(text))
    return "," if comma > point else "."


def _comma_decimal(text: str) -> bool:
    return len(text) > 3 and text[-3] == "," and text[-2:].isdigit() and "/" not in text


def _point_decimal(text: str) -> bool:
    return len(text) > 3 and text[-3] == "." and text[-2:].isdigit() and "/" not in text


def _measure(position: int, header: str, body: list[tuple[str, ...]], separator: str) -> _Column:
    values = [row[position] for row in body if position < len(row) and row[position]]
    column = _Column(position, header, values)
    if not values:
        return column
    count = len(values)
    column.amounts = sum(1 for text in values if _amount(text, separator) is not None) / count
    column.decimals = sum(1 for text in values if _has_cents(text, separator)) / count
    column.dates = sum(1 for text in values if _date(text) is not None) / count
    column.distinct = len(set(values)) / count
    return column


def _amount(text: str, separator: str) -> Decimal | None:
    try:
        return parse_amount(text, decimal_separator=separator)
    except AmountFormatError:
        return None


def _has_cents(text: str, separator: str) -> bool:
    return len(text) > 3 and text[-3] == separator and text[-2:].isdigit()


def _date(text: str) -> datetime.date | None:
    for pattern in DEFAULT_DATE_FORMATS:
        found = parse_date(text, pattern)
        if found is not None:
            return found
    return None


def _hinted(column: _Column, role: str) -> bool:
    name = normalise_header(column.header)
    return any(word in name for word in HINTS[role])


def _choose(columns: Sequence[_Column]) -> dict[str, int]:
    """Role -> column: amounts first (numbers with cents), then dates, then the
    identifier that repeats, then a name, a merchant and a reference."""
    mapping: dict[str, int] = {}
    free = [column for column in columns if column.values]

    def take(role: str, candidates: list[_Column], score: Any) -> None:
        if candidates:
            best = max(candidates, key=score)
            mapping[role] = best.position
            free.remove(best)

    amounts = [c for c in free if c.amounts >= 0.9 and c.dates < 0.5]
    take(
        "amount",
        amounts,
        lambda c: (_hinted(c, "amount"), not _hinted(c, "amount_part"), c.decimals, -c.position),
    )
    dates = [c for c in free if c.dates >= 0.9]
    take("date", dates, lambda c: (_hinted(c, "date"), "post" not in c.header.lower(), -c.position))
    texts = [c for c in free if c.amounts < 0.5 and c.dates < 0.5 and c.distinct < 0.9]
    take(
        "employee_id",
        texts or free,
        lambda c: (_hinted(c, "employee_id"), _hinted(c, "unit"), -c.distinct),
    )
    merchants = [c for c in free if _hinted(c, "merchant") and c.amounts < 0.5 and c.dates < 0.5]
    take("merchant", merchants, lambda c: (c.distinct, -c.position))
    names = [
        c
        for c in free
        if _hinted(c, "employee_name") and not _hinted(c, "merchant") and c.amounts < 0.5
    ]
    take("employee_name", names, lambda c: (-abs(c.distinct - 0.2), -c.position))
    references = [c for c in free if _hinted(c, "receipt_id") and c.dates < 0.5]
    take("receipt_id", references, lambda c: (c.distinct, -c.position))
    return mapping


def _date_format(values: list[str]) -> str | None:
    """The date format reading every sampled date, in a profile's notation."""
    for pattern in DEFAULT_DATE_FORMATS:
        if all(parse_date(text, pattern) is not None for text in values):
            if pattern == "%Y-%m-%d":
                return None  # ISO dates need no setting
            token = pattern
            for directive, name in _ISO_TOKENS.items():
                token = token.replace(directive, name)
            return token
    return None
