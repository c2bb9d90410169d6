"""Amount cells as banks and people write them (SPEC §4)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessions_app.ingestion import AmountFormatError, parse_amount


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("$1,234.56", "1234.56"),
        ("-12.34", "-12.34"),
        ("(12.34)", "-12.34"),
        ("12.34-", "-12.34"),
        ("-$12.34", "-12.34"),
        ("$-12.34", "-12.34"),
        ("($45.00)", "-45.00"),
        ("+12.34", "12.34"),
        ("  12.34  ", "12.34"),
        ("\u00a012.34\u00a0", "12.34"),
        ("\u221212.34", "-12.34"),
        ("€12.34", "12.34"),
        ("£ 1,000", "1000.00"),
        ("12.34 €", "12.34"),
        ("1,234,567.8", "1234567.80"),
        ("12", "12.00"),
        (".5", "0.50"),
        ("-0.00", "0.00"),
    ],
)
def test_it_reads_point_amounts(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)
    assert parse_amount(text).as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,56", "1234.56"),
        ("128911,63", "128911.63"),
        ("1 234,56", "1234.56"),
        ("1\u00a0234,56", "1234.56"),
        ("-1.234,5", "-1234.50"),
        ("(12,34)", "-12.34"),
        ("12,34-", "-12.34"),
        ("12,34 €", "12.34"),
        ("1.000", "1000.00"),
    ],
)
def test_it_reads_decimal_comma_amounts(text: str, expected: str) -> None:
    assert parse_amount(text, decimal_separator=",") == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("12.3.4", "more than one decimal point"),
        ("ten dollars", "letters"),
        ("12,34", "thousands separators in the wrong place"),
        ("1,2345.00", "thousands separators in the wrong place"),
        ("12.345", "more than two decimal places"),
        ("--12.34", "more than one sign"),
        ("-12.34-", "more than one sign"),
        ("(-12.34)", "more than one sign"),
        ("+12.34-", "more than one sign"),
        ("$$12", "more than one currency symbol"),
        ("(12.34", "unbalanced parentheses"),
        ("$", "no digits"),
        ("12.", "no digits after the decimal point"),
        ("12 34", "space"),
        ("12#34", "unexpected character"),
        ("1e5", "letters"),
        ("NaN", "letters"),
        ("99999999999999.00", "too large"),
    ],
)
def test_it_rejects_malformed_amounts_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(AmountFormatError, match=reason):
        parse_amount(text)


def test_it_rejects_point_amounts_in_decimal_comma_mode() -> None:
    with pytest.raises(AmountFormatError, match="thousands separators in the wrong place"):
        parse_amount("1234.56", decimal_separator=",")


def test_it_refuses_an_unknown_decimal_separator() -> None:
    with pytest.raises(ValueError, match="decimal_separator"):
        parse_amount("12.34", decimal_separator="'")


def test_it_raises_a_value_error_subclass_for_bad_amounts() -> None:
    assert issubclass(AmountFormatError, ValueError)


# --- properties ------------------------------------------------------------------------

money = st.decimals(
    min_value=Decimal("-10000000000"),
    max_value=Decimal("10000000000"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


def _grouped(value: Decimal) -> str:
    return f"{abs(value):,.2f}"


def _sign(value: Decimal) -> str:
    return "-" if value < 0 else ""


POINT_STYLES: dict[str, Callable[[Decimal], str]] = {
    "plain": lambda v: f"{v:.2f}",
    "thousands": lambda v: f"{v:,.2f}",
    "dollar": lambda v: f"{_sign(v)}${_grouped(v)}",
    "dollar then sign": lambda v: f"${_sign(v)}{_grouped(v)}",
    "parentheses": lambda v: f"({_grouped(v)})" if v < 0 else _grouped(v),
    "dollar parentheses": lambda v: f"(${_grouped(v)})" if v < 0 else f"${_grouped(v)}",
    "trailing minus": lambda v: f"{abs(v):.2f}{_sign(v)}",
    "explicit plus": lambda v: f"{v:+.2f}",
    "unicode minus and spaces": lambda v: f"\u00a0{v:,.2f} ".replace("-", "\u2212"),
    "euro suffix": lambda v: f"{v:.2f} €",
}
COMMA_STYLES: dict[str, Callable[[Decimal], str]] = {
    "plain": lambda v: f"{v:.2f}".replace(".", ","),
    "dot thousands": lambda v: f"{v:,.2f}".translate(str.maketrans(",.", ".,")),
    "space thousands": lambda v: f"{v:,.2f}".replace(",", " ").replace(".", ","),
    "parentheses": lambda v: (
        f"({abs(v):.2f})".replace(".", ",") if v < 0 else f"{v:.2f}".replace(".", ",")
    ),
    "trailing minus": lambda v: f"{abs(v):.2f}{_sign(v)}".replace(".", ","),
}


@given(value=money, style=st.sampled_from(sorted(POINT_STYLES)))
def test_it_reads_back_every_point_style(value: Decimal, style: str) -> None:
    text = POINT_STYLES[style](value)
    assert parse_amount(text) == value, text


@given(value=money, style=st.sampled_from(sorted(COMMA_STYLES)))
def test_it_reads_back_every_decimal_comma_style(value: Decimal, style: str) -> None:
    text = COMMA_STYLES[style](value)
    assert parse_amount(text, decimal_separator=",") == value, text


def _assert_amount_or_format_error(text: str, separator: str) -> None:
    try:
        result = parse_amount(text, decimal_separator=separator)
    except AmountFormatError as error:
        assert str(error)  # always a reason a person can read
        return
    assert isinstance(result, Decimal)
    assert result.as_tuple().exponent == -2


amount_like_junk = st.text(alphabet="0123456789.,-+() $€£\u00a0\u2212eE", max_size=20)


@given(text=st.one_of(st.text(max_size=30), amount_like_junk), separator=st.sampled_from(".,"))
def test_it_never_fails_other_than_with_a_format_error(text: str, separator: str) -> None:
    _assert_amount_or_format_error(text, separator)
