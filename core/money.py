"""The one money format people read (SPEC §15): thousands separators, two decimals, a
minus sign for negatives, the currency code when one is given.

Pages, admin list columns, event messages, analytics and CSV/XLSX writers all call
`format_money`; XLSX cells keep the number and carry `XLSX_MONEY_FORMAT` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils.html import format_html

CENT = Decimal("0.01")
XLSX_MONEY_FORMAT = "#,##0.00"
# U+2212 would be typographically nicer, but a plain hyphen-minus is what people copy
# into spreadsheets and what screen readers announce as "minus".
MINUS = "-"
EMPTY = "—"


def to_money(value: Any) -> Decimal | None:
    """The value as a Decimal rounded to the cent, or None when it is not an amount."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        value = repr(value)  # never float arithmetic on money; the shortest exact text
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return None


def format_money(value: Any, currency: str | None = None) -> str:
    """`1234.5` -> `1,234.50`; `-3` -> `-3.00`; with a currency `1,234.50 EUR`.
    None (no amount) reads as an em dash."""
    amount = to_money(value)
    if amount is None:
        return EMPTY
    if amount == 0:
        amount = abs(amount)  # never "-0.00"
    text = f"{abs(amount):,.2f}"
    if amount < 0:
        text = MINUS + text
    return f"{text} {currency}" if currency else text


def money_column(field: str, description: str) -> Callable[[Any], str]:
    """An admin list column showing `field` in the money format, right-aligned and never
    wrapped (admin's CSS class `money`, static/css/admin.css), sortable by the field."""

    def column(obj: Any) -> str:
        return format_html('<span class="money">{}</span>', format_money(getattr(obj, field)))

    column.short_description = description  # type: ignore[attr-defined]
    column.admin_order_field = field  # type: ignore[attr-defined]
    column.__name__ = f"{field}_money"
    return column
