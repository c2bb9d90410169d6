"""Profiles that serve a layout family across years; accents; whole-column dates;
the currency column (SPEC §4)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from core.errors import InvalidFile, ValidationFailed
from sessions_app.ingestion import ColumnsNotFound, ImportSettings, parse_statement

FAMILY = ImportSettings.from_dict(
    {
        "columns": {
            "employee_id": ["Division", "Divison"],
            "amount": ["Original Gross Amt", "Gross Amount"],
            "date": "Trans Date",
            "merchant": "Merchant Name",
        }
    }
)


def test_one_profile_reads_two_layouts_of_the_same_family() -> None:
    year_2011 = (
        "Divison,Trans Date,Merchant Name,Original Gross Amt\n"
        "Finance,31/10/2011,Tesco,12.50\nHighways,01/11/2011,Shell,40.00\n"
    )
    year_2014 = (
        "Trans Date,Division,Gross Amount,Merchant Name,Card\n"
        "10-31-2014,Finance,7.25,Amazon,****1234\n10-01-2014,Parks,1.00,B&Q,****9999\n"
    )

    old = parse_statement(year_2011.encode(), settings=FAMILY)
    new = parse_statement(year_2014.encode(), settings=FAMILY)

    assert old.columns["employee_id"] == "Divison"
    assert [(line.employee_id, line.date) for line in old.lines] == [
        ("Finance", datetime.date(2011, 10, 31)),
        ("Highways", datetime.date(2011, 11, 1)),
    ]
    assert new.columns == {
        "employee_id": "Division",
        "amount": "Gross Amount",
        "date": "Trans Date",
        "merchant": "Merchant Name",
    }
    assert [(line.employee_id, line.date) for line in new.lines] == [
        ("Finance", datetime.date(2014, 10, 31)),
        ("Parks", datetime.date(2014, 10, 1)),
    ]
    assert new.total_amount == Decimal("8.25")


def test_the_first_alternative_found_wins() -> None:
    settings = ImportSettings(columns={"employee_id": ["Card Holder", "Division"]})
    text = "Division,Card Holder,Amount\nFinance,Ann,1.00\n"

    parsed = parse_statement(text.encode(), settings=settings)

    assert parsed.lines[0].employee_id == "Ann"


def test_a_missing_profile_column_names_every_alternative() -> None:
    with pytest.raises(ColumnsNotFound) as caught:
        parse_statement(b"Dept,Amount\nX,1.00\n", settings=FAMILY)

    assert 'employee id ("Division" or "Divison")' in caught.value.errors[0].message


@pytest.mark.parametrize(
    "columns",
    [{"employee_id": ["A", ""]}, {"employee_id": ["A", 3]}, {"employee_id": {"a": 1}}],
)
def test_a_profile_column_must_be_headers(columns: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        ImportSettings.from_dict({"columns": columns})


def test_headers_fold_accents() -> None:
    text = (
        "NOME PORTADOR;DATA TRANSAÇÃO;VALOR TRANSAÇÃO;NOME FAVORECIDO\n"
        "JOÃO;31/10/2012;1.234,56;LOJA\n"
    )
    settings = ImportSettings(
        columns={
            "employee_id": "Nome Portador",
            "date": "data transacao",
            "amount": "valor transacao",
            "merchant": "nome favorecido",
        }
    )

    parsed = parse_statement(text.encode(), settings=settings)

    assert parsed.columns["amount"] == "VALOR TRANSAÇÃO"
    line = parsed.lines[0]
    assert (line.employee_id, line.amount, line.date) == (
        "JOÃO",
        Decimal("1234.56"),
        datetime.date(2012, 10, 31),
    )


def test_month_first_dashed_dates_are_detected_from_the_whole_column() -> None:
    rows = "".join(f"E{day},10-{day:02d}-2012,1.00\n" for day in range(1, 32))

    parsed = parse_statement(f"Employee ID,Transaction Date,Amount\n{rows}".encode())

    assert parsed.lines[0].date == datetime.date(2012, 10, 1)
    assert parsed.lines[-1].date == datetime.date(2012, 10, 31)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("03.10.2026", datetime.date(2026, 10, 3)),
        ("10.31.2026", datetime.date(2026, 10, 31)),
        ("2026.10.31", datetime.date(2026, 10, 31)),
        ("31-10-26", datetime.date(2026, 10, 31)),
        ("10/31/26", datetime.date(2026, 10, 31)),
    ],
)
def test_dates_with_any_separator_are_read(text: str, expected: datetime.date) -> None:
    parsed = parse_statement(f"Employee ID,Date,Amount\nE1,{text},1.00\n".encode())

    assert parsed.lines[0].date == expected


def test_a_date_column_that_fits_no_format_is_one_error() -> None:
    rows = "".join(f"E{i},2012/31/{i % 12 + 1:02d}x,1.00\n" for i in range(2085))

    with pytest.raises(InvalidFile) as caught:
        parse_statement(f"Employee ID,Transaction Date,Amount\n{rows}".encode())

    error = caught.value
    assert error.error_count == 1
    message = error.details[0]["message"]
    assert message.startswith("2,085 dates of the column do not read with any format tried")
    assert "10-31-2026" in message and "date_format" in message
    assert "First lines that fail: line 2 (2012/31/01x)" in message


def test_a_profile_date_format_that_does_not_fit_is_named_in_the_one_error() -> None:
    rows = "".join(f"E{i},2026-10-{i + 1:02d},1.00\n" for i in range(10))
    settings = ImportSettings(date_format="dd/mm/yyyy")

    with pytest.raises(InvalidFile) as caught:
        parse_statement(f"Employee ID,Date,Amount\n{rows}".encode(), settings=settings)

    assert caught.value.error_count == 1
    assert "the import profile's date_format 'dd/mm/yyyy'" in caught.value.details[0]["message"]


def test_a_few_bad_dates_stay_row_errors() -> None:
    text = "Employee ID,Date,Amount\nE1,2026-10-01,1.00\nE2,2026-10-32,1.00\nE3,2026-10-03,1.00\n"

    with pytest.raises(InvalidFile) as caught:
        parse_statement(text.encode())

    assert [(e["line"], e["value"]) for e in caught.value.details] == [(3, "2026-10-32")]


CURRENCY = ImportSettings(columns={"currency": "Currency"})


def test_a_line_in_another_currency_is_a_row_error_naming_it() -> None:
    text = "Employee ID,Currency,Amount\nE1,USD,1.00\nE2,EUR,2.00\nE3,usd,3.00\n"

    with pytest.raises(InvalidFile) as caught:
        parse_statement(text.encode(), settings=CURRENCY, currency="USD")

    assert [(e["line"], e["value"], e["message"]) for e in caught.value.details] == [
        (3, "EUR", "currency EUR; every line must be in the engagement's currency, USD")
    ]


def test_lines_in_the_engagement_currency_are_read() -> None:
    text = "Employee ID,Currency,Amount\nE1,GBP,1.00\nE2,GBP,2.00\n"

    parsed = parse_statement(text.encode(), settings=CURRENCY, currency="GBP")

    assert parsed.total_amount == Decimal("3.00")
