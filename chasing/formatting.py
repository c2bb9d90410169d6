"""How a person reads an amount in chasing emails and pages (SPEC §15): thousands
separators, two decimals, a minus sign for negatives."""

from __future__ import annotations

from decimal import Decimal


def money(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value.quantize(Decimal('0.01')):,.2f}"
