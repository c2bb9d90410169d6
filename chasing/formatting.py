"""How a person reads an amount in chasing emails and pages (SPEC §15): thousands
separators, two decimals, a minus sign for negatives. The same output as the shared money
format, which this defers to once it is on the main line."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def money(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"
