"""Big files take quick paths (plain amounts, ISO dates, choices made from the first rows
and checked on every row); they must read exactly what the careful paths read (SPEC §4)."""

from __future__ import annotations

import dataclasses
import datetime
import gc
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidFile
from sessions_app.ingestion import ColumnsNotFound, ParsedLine, parse_statement
from sessions_app.ingestion.amounts import AmountFormatError, parse_amount, parse_plain_amount
from sessions_app.ingestion.dates import (
    DEFAULT_DATE_FORMATS,
    DateFormatChooser,
    detect_date_format,
    parse_date,
)
from sessions_app.ingestion.parser import GUESS_ROWS

LONG = GUESS_ROWS + 500  # more rows than the parser guesses from


def reads(text: str, separator: str) -> Decimal | None:
    try:
        return parse_amount(text, decimal_separator=separator)
    except AmountFormatError:
        return None


# --- amounts --------------------------------------------------------------------------------

plain_looking = st.from_regex(r"[-+]?[0-9]{0,16}([.,][0-9]{0,4})?", fullmatch=True)
amount_like_junk = st.text(alphabet="0123456789.,-+() $€\u00a0\u2212e٣", max_size=20)


@given(text=st.one_of(plain_looking, amount_like_junk), separator=st.sampled_from(".,"))
def test_it_reads_a_plain_amount_exactly_as_the_careful_parser(text: str, separator: str) -> None:
    quick = parse_plain_amount(text, separator)

    if quick is not None:
        careful = parse_amount(text, decimal_separator=separator)
        assert (quick, str(quick)) == (careful, str(careful))


@given(text=plain_looking, separator=st.sampled_from(".,"))
def test_a_plain_amount_with_its_separator_never_reads_with_the_other(
    text: str, separator: str
) -> None:
    # The parser relies on this to settle the file's separator without reading twice.
    if parse_plain_amount(text, separator) is not None and separator in text:
        assert reads(text, "," if separator == "." else ".") is None


@given(text=st.text(alphabet="0123456789-+()$€£e%x٣\u2212", max_size=20))
def test_an_amount_without_point_comma_or_space_reads_alike_with_both_separators(
    text: str,
) -> None:
    assert reads(text, ".") == reads(text, ",")


@given(value=st.decimals(min_value=-(10**12), max_value=10**12, places=2))
def test_it_takes_the_quick_path_for_amounts_written_plainly(value: Decimal) -> None:
    assert parse_plain_amount(f"{value:.2f}", ".") == value
    assert parse_plain_amount(f"{value:.2f}".replace(".", ","), ",") == value


# --- dates ----------------------------------------------------------------------------------


def strptime_date(text: str, pattern: str) -> datetime.date | None:
    try:
        return datetime.datetime.strptime(text, pattern).date()
    except ValueError:
        return None


@given(
    text=st.one_of(
        st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
        st.dates().map(datetime.date.isoformat),
    )
)
def test_it_reads_iso_dates_as_strptime_does(text: str) -> None:
    assert parse_date(text, "%Y-%m-%d") == strptime_date(text, "%Y-%m-%d")


written_dates = st.builds(
    lambda day, pattern: day.strftime(pattern),
    st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2030, 12, 31)),
    st.sampled_from(DEFAULT_DATE_FORMATS),
)
date_texts = st.lists(
    st.one_of(written_dates, st.sampled_from(["someday", "2026-10-02T14:31:00", "31/02/2026"])),
    max_size=12,
)


@given(texts=date_texts, guess=st.sampled_from([None, *DEFAULT_DATE_FORMATS]))
def test_it_chooses_the_date_format_row_by_row_as_from_the_whole_column(
    texts: list[str], guess: str | None
) -> None:
    chooser = DateFormatChooser()
    for text in dict.fromkeys(texts):
        chooser.add(text, guess, parse_date(text, guess) if guess else None)

    assert chooser.result() == detect_date_format(texts)


# --- whole files longer than the guess ------------------------------------------------------


def long_file(header: str, rows: list[str], *, end: str = "\n") -> bytes:
    return (end.join([header, *rows]) + end).encode()


def test_it_reads_day_first_dates_when_only_the_last_line_shows_it() -> None:
    rows = [f"E{n},10/02/2026,1.00" for n in range(LONG)] + ["E0,13/02/2026,1.00"]

    parsed = parse_statement(long_file("Employee ID,Date,Amount", rows))

    assert {line.date for line in parsed.lines} == {
        datetime.date(2026, 2, 10),
        datetime.date(2026, 2, 13),
    }


def test_it_reads_a_decimal_comma_that_shows_only_after_the_first_rows() -> None:
    rows = [f"E{n};Taxi;12" for n in range(LONG)] + ["E0;Taxi;12,50", ";Total;30.012,50"]

    parsed = parse_statement(long_file("Employee ID;Merchant;Amount", rows))

    assert parsed.decimal_separator == ","
    assert parsed.lines[-1].amount == Decimal("12.50")
    assert parsed.total_amount == Decimal("30012.50")
    assert parsed.control_totals[0].amount == Decimal("30012.50")


def test_it_reports_mixed_separators_alike_however_late_the_mix_shows() -> None:
    rows = [f"E{n};12,50" for n in range(LONG)] + ["E0;1,234.56"]

    with pytest.raises(InvalidFile) as caught:
        parse_statement(long_file("Employee ID;Amount", rows))

    # Neither separator reads every amount: the point is used, as for a short file.
    assert caught.value.error_count == LONG
    assert (caught.value.errors[0].line, caught.value.errors[0].value) == (2, "12,50")
    assert "thousands separators in the wrong place" in caught.value.errors[0].message


def test_it_reports_a_bad_cell_far_below_the_first_rows() -> None:
    rows = [f"E{n},2026-10-02,1.00" for n in range(LONG)]
    rows[-1] = "E9,2026-10-32,1.00"
    rows[-2] = "E8,2026-10-03,1.2.3"

    with pytest.raises(InvalidFile) as caught:
        parse_statement(long_file("Employee ID,Date,Amount", rows, end="\r\n"))

    assert [(e.line, e.column, e.value) for e in caught.value.errors] == [
        (LONG, "Amount", "1.2.3"),
        (LONG + 1, "Date", "2026-10-32"),
    ]


def test_it_numbers_lines_across_a_long_file_with_cr_line_ends() -> None:
    rows = [f'E{n},"two\rlines",1.00' for n in range(LONG)] + ["E1,x,oops"]

    with pytest.raises(InvalidFile) as caught:
        parse_statement(long_file("Employee ID,Merchant,Amount", rows, end="\r"))

    assert caught.value.errors[0].line == 2 + 2 * LONG


def test_it_reports_an_open_quote_before_missing_columns() -> None:
    data = b'Cardholder,Amount\nAnn,1.00\n"' + b"x" * 140_000 + b"\n"

    with pytest.raises(InvalidFile) as caught:
        parse_statement(data)

    assert not isinstance(caught.value, ColumnsNotFound)
    # The open quote swallows the rest of the file into one cell past the cell limit.
    assert "line 3" in caught.value.errors[0].message


def test_it_reads_a_utf16_file_from_excel() -> None:
    text = "Employee ID\tCardholder Name\tAmount\r\nE1\tZoë Ødegård\t1.50\r\n"

    parsed = parse_statement(text.encode("utf-16"))

    assert (parsed.encoding, parsed.delimiter) == ("utf-16", "\t")
    assert parsed.lines == [ParsedLine(2, "E1", "Zoë Ødegård", Decimal("1.50"), None, "", "")]


def test_quickly_read_lines_are_ordinary_frozen_lines() -> None:
    parsed = parse_statement(b"Employee ID,Date,Amount\nE1,2026-10-02,-0.00\nE1,,7\n")
    expected = ParsedLine(2, "E1", "", Decimal("0.00"), datetime.date(2026, 10, 2), "", "")

    assert parsed.lines[0] == expected
    assert hash(parsed.lines[0]) == hash(expected)
    assert repr(parsed.lines[0]) == repr(expected)
    assert str(parsed.lines[1].amount) == "7.00"
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.lines[0].amount = Decimal("1.00")  # type: ignore[misc]


def test_it_leaves_the_garbage_collector_as_it_found_it() -> None:
    # Reading pauses the collector; a parse that fails must not leave it paused.
    with pytest.raises(InvalidFile):
        parse_statement(b"Employee ID,Amount\nE1,oops\n")
    parse_statement(b"Employee ID,Amount\nE1,1.00\n")
    assert gc.isenabled()

    gc.disable()
    try:
        parse_statement(b"Employee ID,Amount\nE1,1.00\n")
        assert not gc.isenabled()
    finally:
        gc.enable()
