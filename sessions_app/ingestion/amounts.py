"""Money amounts as people and banks write them, turned into exact Decimals.

Accepted (SPEC §4): `1234.56`, `1,234.56`, `$1,234.56`, `-12.34`, `(12.34)`, `12.34-`,
`-$12.34`, `$-12.34`, `($45.00)`, a leading `+`, surrounding spaces/NBSP, the unicode
minus, other currency symbols; with a decimal comma `1.234,56`, `128911,63`, `1 234,56`.
Anything else raises `AmountFormatError`, whose text is the reason shown to a person.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# A trillion is far beyond any card statement; refusing bigger numbers keeps a typo
# (or a pasted card number) from becoming a "valid" amount.
MAX_INTEGER_DIGITS = 13
# Spreadsheet numbers arrive as binary floats (0.1 + 0.2 = 0.30000000000000004); a
# difference this small from the nearest cent is float noise, not a real fraction.
FLOAT_NOISE = Decimal("0.000001")

CURRENCY_SYMBOLS = frozenset("$€£¥")
DIGITS = frozenset("0123456789")
# Which characters may group thousands, per decimal separator.
GROUP_SEPARATORS: dict[str, tuple[str, ...]] = {".": (",",), ",": (".", " ")}
SEPARATOR_NAMES = {".": "decimal point", ",": "decimal comma"}

_LOOKALIKES = str.maketrans(
    {
        "\u00a0": " ",  # no-break space (Excel, French locales)
        "\u202f": " ",  # narrow no-break space
        "\u2007": " ",  # figure space
        "\t": " ",
        "\u2212": "-",  # unicode minus sign
        "\ufe63": "-",  # small hyphen-minus
        "\uff0d": "-",  # fullwidth hyphen-minus
    }
)


# The shapes nearly every cell has, read in one step; anything else takes the careful path
# below, which accepts the same texts and explains what is wrong with the others.
_COMMON = {
    separator: re.compile(
        rf"(?P<sign>[-+]?)[$€£¥]?(?P<whole>[0-9]{{1,3}}(?:{re.escape(group)}[0-9]{{3}})+|[0-9]+)"
        rf"(?:{re.escape(separator)}(?P<fraction>[0-9]{{1,2}}))?"
    )
    for separator, (group, *_) in GROUP_SEPARATORS.items()
}


# The plainest shape, `1234.56` or `-7` (`1234,56` with a decimal comma), which Decimal reads
# itself. With its separator such a text never reads with the other one: read with a
# decimal comma, the point of "1234.56" would group thousands, which takes three digits.
PLAIN = {
    separator: re.compile(
        rf"-?[0-9]{{1,{MAX_INTEGER_DIGITS}}}(?:{re.escape(separator)}[0-9]{{1,2}})?"
    )
    for separator in GROUP_SEPARATORS
}


class AmountFormatError(ValueError):
    """`str(error)` is a reason a person can act on, e.g. "more than two decimal places"."""


def _invalid(reason: str) -> AmountFormatError:
    return AmountFormatError(f"not a valid amount: {reason}")


def parse_amount(text: str, *, decimal_separator: str = ".") -> Decimal:
    """Parse one amount cell into a Decimal with exactly two places."""
    if decimal_separator not in GROUP_SEPARATORS:
        raise ValueError(f"decimal_separator must be '.' or ',', not {decimal_separator!r}")
    cleaned = text.translate(_LOOKALIKES).strip()
    if not cleaned:
        raise AmountFormatError("the amount is empty")
    common = _read_common(cleaned, decimal_separator)
    if common is not None:
        return common
    body, negative = _strip_decorations(cleaned)
    value = _number(body, decimal_separator)
    return _signed(value, negative)


def parse_plain_amount(text: str, separator: str) -> Decimal | None:
    """`parse_amount` for a stripped text of the PLAIN shape, else None (nothing raised)."""
    if PLAIN[separator].fullmatch(text) is None:
        return None
    value = Decimal(text if separator == "." else text.replace(",", "."))
    if text[-3:-2] != separator:  # fewer than two decimals
        value = value.quantize(CENT)
    # -0.00 and 0.00 are equal but print differently; store the plain one.
    return value if value else ZERO


def _read_common(text: str, separator: str) -> Decimal | None:
    match = _COMMON[separator].fullmatch(text)
    if match is None or len(match["whole"]) > MAX_INTEGER_DIGITS:
        return None
    digits = match["whole"].replace(GROUP_SEPARATORS[separator][0], "")
    return _signed(Decimal(f"{digits}.{match['fraction'] or '0'}"), match["sign"] == "-")


def amount_from_number(value: Decimal | int) -> Decimal:
    """A number cell of a spreadsheet (already exact, or float text via str()) to cents."""
    exact = Decimal(value)
    if not exact.is_finite():
        raise _invalid("not a finite number")
    if exact.copy_abs() >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise _invalid("too large")
    rounded = exact.quantize(CENT)
    if (exact - rounded).copy_abs() > FLOAT_NOISE:
        raise _invalid("more than two decimal places")
    return _signed(rounded, negative=False)


def format_amount(value: Decimal) -> str:
    """How amounts are quoted back in messages: 3,087.03."""
    return f"{value:,.2f}"


def _strip_decorations(text: str) -> tuple[str, bool]:
    """Remove parentheses, signs and currency symbols; return the bare number and its sign."""
    signs = 0
    negative = False
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
        signs, negative = 1, True
    if "(" in text or ")" in text:
        raise _invalid("unbalanced parentheses")
    text, leading = _peel(text, from_end=False)
    text, trailing = _peel(text, from_end=True)
    marks = leading + trailing
    if "+" in trailing:
        raise _invalid("a plus sign after the number")
    signs += sum(1 for mark in marks if mark in "+-")
    if signs > 1:
        raise _invalid("more than one sign")
    if sum(1 for mark in marks if mark in CURRENCY_SYMBOLS) > 1:
        raise _invalid("more than one currency symbol")
    return text, negative or "-" in marks


def _peel(text: str, *, from_end: bool) -> tuple[str, list[str]]:
    """Take sign and currency marks off one end, in any order (-$12 and $-12 both occur)."""
    taken: list[str] = []
    while text:
        mark = text[-1] if from_end else text[0]
        if mark not in "+-" and mark not in CURRENCY_SYMBOLS:
            break
        taken.append(mark)
        text = (text[:-1] if from_end else text[1:]).strip()
    return text, taken


def _number(body: str, separator: str) -> Decimal:
    """The unsigned value of `body`, which must be digits with valid separators."""
    _check_characters(body, separator)
    if body.count(separator) > 1:
        raise _invalid(f"more than one {SEPARATOR_NAMES[separator]}")
    whole, has_separator, fraction = body.partition(separator)
    if has_separator and not fraction:
        raise _invalid(f"no digits after the {SEPARATOR_NAMES[separator]}")
    if not set(fraction) <= DIGITS:
        raise _invalid("thousands separators in the wrong place")
    if len(fraction) > 2:
        raise _invalid("more than two decimal places")
    digits = _ungroup(whole, GROUP_SEPARATORS[separator])
    if not digits and not fraction:
        raise _invalid("no digits")
    if len(digits.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise _invalid("too large")
    return Decimal(f"{digits or '0'}.{fraction or '0'}").quantize(CENT)


def _check_characters(body: str, separator: str) -> None:
    if not body:
        raise _invalid("no digits")
    if any(char.isalpha() for char in body):
        raise _invalid("it contains letters")
    allowed = DIGITS | {separator, *GROUP_SEPARATORS[separator]}
    stray = next((char for char in body if char not in allowed), None)
    if stray == " ":
        raise _invalid("a space inside the number")
    if stray is not None:
        raise _invalid(f"unexpected character {stray!r}")


def _ungroup(whole: str, groups: tuple[str, ...]) -> str:
    """Drop thousands separators, which must sit between valid groups of three digits."""
    used = [group for group in groups if group in whole]
    if not used:
        return whole
    parts = whole.split(used[0])
    valid = (
        len(used) == 1
        and 1 <= len(parts[0]) <= 3
        and all(len(part) == 3 for part in parts[1:])
        and all(set(part) <= DIGITS for part in parts)
    )
    if not valid:
        raise _invalid("thousands separators in the wrong place")
    return "".join(parts)


def _signed(value: Decimal, negative: bool) -> Decimal:
    try:
        value = value.quantize(CENT)
    except InvalidOperation as error:  # only for absurd exponents; keep the reason human
        raise _invalid("too large") from error
    if negative:
        value = -value
    # -0.00 and 0.00 are equal but print differently; store the plain one.
    return ZERO if value == 0 else value
