"""Whole files through `parse_statement`: the shared samples and held-out styles (SPEC §4)."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest

from core.errors import InvalidFile, ValidationFailed
from sessions_app.ingestion import (
    ColumnsNotFound,
    ImportSettings,
    ParsedFile,
    ParsedLine,
    parse_statement,
)
from tests.samples import FIXTURES


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse_text(
    text: str, *, encoding: str = "utf-8", settings: ImportSettings | None = None
) -> ParsedFile:
    return parse_statement(text.encode(encoding), settings=settings)


def errors_of(data: bytes, settings: ImportSettings | None = None) -> list[dict[str, object]]:
    with pytest.raises(InvalidFile) as caught:
        parse_statement(data, settings=settings)
    return [error.as_dict() for error in caught.value.errors]


def summary(lines: list[ParsedLine]) -> list[tuple[object, ...]]:
    return [
        (
            line.line_number,
            line.employee_id,
            line.employee_name,
            line.amount,
            line.date,
            line.receipt_id,
        )
        for line in lines
    ]


def by_employee(parsed: ParsedFile) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for line in parsed.lines:
        totals[line.employee_id] = totals.get(line.employee_id, Decimal("0.00")) + line.amount
    return totals


# --- the shared samples ----------------------------------------------------------------


def test_it_reads_the_card_activity_report() -> None:
    parsed = parse_statement(fixture("car_2026_10.csv"), file_label="Card statement")

    assert parsed.file_format == "csv"
    assert (parsed.encoding, parsed.delimiter, parsed.decimal_separator) == ("utf-8", ",", ".")
    assert parsed.header_line == 1
    assert parsed.columns == {
        "employee_id": "Employee ID",
        "employee_name": "Cardholder Name",
        "amount": "Billing Amount",
        "date": "Posting Date",
        "merchant": "Merchant",
    }
    assert len(parsed.lines) == 12
    assert parsed.blank_rows == 1
    assert parsed.subtotals == []
    assert [(t.line_number, t.amount, t.lines_sum) for t in parsed.control_totals] == [
        (15, Decimal("3087.03"), Decimal("3087.03"))
    ]
    assert parsed.total_amount == Decimal("3087.03")


def test_it_keeps_card_report_details_exact() -> None:
    parsed = parse_statement(fixture("car_2026_10.csv"))
    lines = {line.line_number: line for line in parsed.lines}

    assert lines[2] == ParsedLine(
        2,
        "E1001",
        "Zhang, Alice",
        Decimal("120.50"),
        datetime.date(2026, 10, 2),
        "UNITED AIRLINES",
        "",
    )
    assert lines[4].amount == Decimal("1250.00")
    assert lines[5].amount == Decimal("-45.00")
    assert lines[6].employee_name == "Díaz, Carmen"
    assert 10 not in lines  # the blank row
    assert lines[11].employee_id == "E1005"  # physical numbering continues after it
    assert lines[11].date == datetime.date(2026, 10, 20)  # month-first file
    assert by_employee(parsed)["E1002"] == Decimal("1205.00")


def test_it_reads_receipts_v1() -> None:
    parsed = parse_statement(fixture("receipts_2026_10_v1.csv"))

    assert parsed.columns == {
        "employee_id": "Employee Number",
        "employee_name": "Employee Name",
        "amount": "Amount",
        "date": "Receipt Date",
        "receipt_id": "Receipt ID",
    }
    assert summary(parsed.lines)[3] == (
        5,
        "E1003",
        "Carmen Díaz",
        Decimal("80.00"),
        datetime.date(2026, 10, 11),
        "R-5004",
    )
    assert by_employee(parsed) == {
        "E1001": Decimal("155.00"),
        "E1002": Decimal("1205.00"),
        "E1003": Decimal("80.00"),
        "E1004": Decimal("300.00"),
        "E1005": Decimal("64.00"),
        "E1007": Decimal("60.00"),
        "E1008": Decimal("25.00"),
    }


def test_it_reads_receipts_v2() -> None:
    parsed = parse_statement(fixture("receipts_2026_10_v2.csv"))

    assert len(parsed.lines) == 13
    assert by_employee(parsed)["E1001"] == Decimal("155.75")
    assert by_employee(parsed)["E1005"] == Decimal("74.00")
    assert parsed.total_amount == Decimal("3122.03")


def test_it_reads_late_receipts() -> None:
    parsed = parse_statement(fixture("receipts_2026_10_late.csv"))

    assert [(line.employee_id, line.receipt_id, line.amount) for line in parsed.lines] == [
        ("E1006", "R-5013", Decimal("999.99")),
        ("E1003", "R-5004", Decimal("80.00")),
    ]


def test_it_reads_the_windows_1252_semicolon_file_exactly_like_v1() -> None:
    utf8 = parse_statement(fixture("receipts_2026_10_v1.csv"))
    cp1252 = parse_statement(fixture("receipts_2026_10_v1_cp1252_semicolon.csv"))

    assert (cp1252.encoding, cp1252.delimiter) == ("windows-1252", ";")
    assert cp1252.lines == utf8.lines
    assert cp1252.lines[3].employee_name == "Carmen Díaz"


def test_it_rejects_the_bad_receipts_file_with_all_three_errors() -> None:
    with pytest.raises(InvalidFile) as caught:
        parse_statement(fixture("receipts_bad.csv"), file_label="Receipts file")

    errors = caught.value.errors
    assert [(e.line, e.column, e.value) for e in errors] == [
        (2, "Amount", "12.3.4"),
        (3, "Employee Number", ""),
        (4, "Amount", "ten dollars"),
    ]
    assert "decimal point" in errors[0].message
    assert errors[1].message == "employee id is missing"
    assert "letters" in errors[2].message
    assert caught.value.error_count == 3
    assert caught.value.message == "Receipts file has 3 errors; nothing was stored."


# --- delimiters, encodings, line endings ---------------------------------------------


def test_it_detects_a_tab_delimiter() -> None:
    parsed = parse_text("Emp ID\tName\tAmount\n7\tLee, Ann\t1,234.56\n8\tBo\t(12.34)\n")

    assert parsed.delimiter == "\t"
    assert [(line.employee_id, line.employee_name, line.amount) for line in parsed.lines] == [
        ("7", "Lee, Ann", Decimal("1234.56")),
        ("8", "Bo", Decimal("-12.34")),
    ]


def test_it_detects_a_pipe_delimiter() -> None:
    parsed = parse_text("Employee ID|Amount\nE1|5.00\n")

    assert parsed.delimiter == "|"
    assert parsed.lines[0].amount == Decimal("5.00")


def test_it_detects_semicolons_with_a_decimal_comma() -> None:
    text = (
        "Employee ID;Employee Name;Transaction Date;Amount\r\n"
        "E1;Renée Côté;13.10.2026;1.234,56\r\n"
        "E2;Jan Novák;02.10.2026;128911,63\r\n"
        "E3;Ola;03.10.2026;-12,30\r\n"
    )
    parsed = parse_text(text)

    assert (parsed.delimiter, parsed.decimal_separator) == (";", ",")
    assert [line.amount for line in parsed.lines] == [
        Decimal("1234.56"),
        Decimal("128911.63"),
        Decimal("-12.30"),
    ]
    assert parsed.lines[0].date == datetime.date(2026, 10, 13)


def test_it_reads_windows_1252_names() -> None:
    text = 'Employee ID,Cardholder Name,Merchant,Amount\nE1,"Müller, Jürgen",Café € Crème,9.99\n'
    parsed = parse_text(text, encoding="cp1252")

    assert parsed.encoding == "windows-1252"
    assert parsed.lines[0].employee_name == "Müller, Jürgen"
    assert parsed.lines[0].merchant == "Café € Crème"


def test_it_reads_iso_8859_1_through_settings() -> None:
    data = "Employee ID,Name,Amount\nE1,Ørsted Åse,1.00\n".encode("iso-8859-1")
    parsed = parse_statement(data, settings=ImportSettings(encoding="iso-8859-1"))

    assert parsed.encoding == "iso-8859-1"
    assert parsed.lines[0].employee_name == "Ørsted Åse"


def test_it_reports_bytes_that_do_not_fit_the_profile_encoding() -> None:
    data = "Employee ID,Name,Amount\nE1,Zoë,1.00\n".encode("cp1252")
    errors = errors_of(data, ImportSettings(encoding="utf-8"))

    assert len(errors) == 1
    assert errors[0]["line"] is None
    assert "not valid utf-8" in str(errors[0]["message"])


def test_it_handles_quotes_embedded_newlines_and_cr_line_endings() -> None:
    text = 'Employee ID,Merchant,Amount\rE1,"ACME\rDivision, East",1.00\r\rE2,"Say ""hi""",2.00\r'
    parsed = parse_text(text)

    assert summary(parsed.lines) == [
        (2, "E1", "", Decimal("1.00"), None, ""),
        (5, "E2", "", Decimal("2.00"), None, ""),
    ]
    assert parsed.lines[0].merchant == "ACME\rDivision, East"
    assert parsed.lines[1].merchant == 'Say "hi"'
    assert parsed.blank_rows == 1


def test_it_numbers_lines_physically_after_a_multiline_field() -> None:
    text = 'Employee ID,Merchant,Amount\nE1,"two\nlines",1.00\nE2,x,oops\n'

    assert errors_of(text.encode())[0]["line"] == 4


# --- header detection and profiles ----------------------------------------------------


def test_it_skips_preamble_lines_above_the_header() -> None:
    text = (
        "ACME BANK - Corporate card activity\n"
        "Period: 01/10/2026 - 31/10/2026\n"
        "\n"
        "Emp No,Full Name,Post Date,Description,Amount USD\n"
        "E1,Ann,10/01/2026,Taxi,12.34-\n"
    )
    parsed = parse_text(text)

    assert parsed.header_line == 4
    assert parsed.columns["amount"] == "Amount USD"
    assert summary(parsed.lines) == [
        (5, "E1", "Ann", Decimal("-12.34"), datetime.date(2026, 10, 1), "")
    ]


def test_it_takes_the_header_after_skip_lines() -> None:
    text = "Report\nEmployee ID,Amount\nE0,1.00\nEmployee ID,Amount\nE1,2.00\n"
    parsed = parse_text(text, settings=ImportSettings(skip_lines=3))

    assert parsed.header_line == 4
    assert [line.employee_id for line in parsed.lines] == ["E1"]


def test_it_maps_unknown_headers_through_a_profile() -> None:
    settings = ImportSettings.from_dict(
        {
            "name": "Big Bank",
            "delimiter": ";",
            "decimal_separator": ",",
            "date_format": "dd/mm/yy",
            "columns": {
                "employee_id": "Card No",
                "employee_name": "Holder",
                "amount": "Amt Billed",
                "date": "Txn",
                "merchant": "",
            },
        }
    )
    text = "Card No;Holder;Txn;Amt Billed\n4111-01;Ann;02/10/26;1.234,50\n4111-02;Bo;13/10/26;7\n"
    parsed = parse_text(text, settings=settings)

    assert parsed.columns == {
        "employee_id": "Card No",
        "employee_name": "Holder",
        "amount": "Amt Billed",
        "date": "Txn",
    }
    assert summary(parsed.lines) == [
        (2, "4111-01", "Ann", Decimal("1234.50"), datetime.date(2026, 10, 2), ""),
        (3, "4111-02", "Bo", Decimal("7.00"), datetime.date(2026, 10, 13), ""),
    ]


def test_it_lets_one_column_serve_as_key_and_name() -> None:
    settings = ImportSettings(columns={"employee_id": "Cardholder", "employee_name": "Cardholder"})
    parsed = parse_text("Cardholder,Amount\nANN LEE,3.00\n", settings=settings)

    assert (parsed.lines[0].employee_id, parsed.lines[0].employee_name) == ("ANN LEE", "ANN LEE")


def test_it_names_found_and_missing_columns() -> None:
    with pytest.raises(ColumnsNotFound) as caught:
        parse_statement(b"Cardholder,Card No,Amt\nAnn,4111,1.00\n")

    error = caught.value
    assert error.found_headers == ["Cardholder", "Card No", "Amt"]
    assert error.missing_roles == ["employee_id"]
    assert error.columns == {"found": ["Cardholder", "Card No", "Amt"], "missing": ["employee_id"]}
    assert error.errors[0].message == (
        "Could not find the columns: employee id. Columns found: Cardholder, Card No, Amt."
        ' Suggested mapping from the content: amount = "Amt", employee id = "Cardholder".'
    )
    assert isinstance(error, InvalidFile)
    assert error.code == "invalid_file"


def test_it_names_a_profile_column_absent_from_the_file() -> None:
    settings = ImportSettings(columns={"employee_id": "Card Number"})
    with pytest.raises(ColumnsNotFound) as caught:
        parse_statement(b"Card No,Amount\n4111,1.00\n", settings=settings)

    assert caught.value.missing_roles == ["employee_id"]
    assert 'employee id ("Card Number")' in caught.value.errors[0].message


def test_it_suggests_checking_a_wrong_profile_delimiter() -> None:
    with pytest.raises(ColumnsNotFound) as caught:
        parse_statement(b"Employee ID,Amount\nE1,1\n", settings=ImportSettings(delimiter=";"))

    assert caught.value.found_headers == ["Employee ID,Amount"]
    assert "Check the delimiter" in caught.value.errors[0].message


def test_it_accepts_a_file_with_only_a_header() -> None:
    parsed = parse_text("Employee ID,Amount\r\n")

    assert (parsed.lines, parsed.total_amount) == ([], Decimal("0.00"))


# --- amounts, signs, dates -----------------------------------------------------------


def test_it_reads_trailing_minus_and_parentheses_as_negative() -> None:
    parsed = parse_text("Employee ID,Amount\nE1,12.34-\nE1,(12.34)\nE1,$-1.00\n")

    assert [line.amount for line in parsed.lines] == [
        Decimal("-12.34"),
        Decimal("-12.34"),
        Decimal("-1.00"),
    ]


def test_it_flips_signs_for_a_charges_negative_profile() -> None:
    text = (
        "Employee ID,Amount,Description\n"
        "E1,-120.50,Hotel\nE1,45.00,Refund\nE1,0.00,x\n"
        ",-75.50,TOTAL\n"
    )
    parsed = parse_text(text, settings=ImportSettings(charges_negative=True))

    assert [line.amount for line in parsed.lines] == [
        Decimal("120.50"),
        Decimal("-45.00"),
        Decimal("0.00"),
    ]
    assert str(parsed.lines[2].amount) == "0.00"
    assert parsed.control_totals[0].amount == Decimal("75.50")


def test_it_reads_day_first_dates_when_one_day_is_above_twelve() -> None:
    parsed = parse_text("Employee ID,Date,Amount\nE1,10/02/2026,1\nE1,13/02/2026,1\n")

    assert [line.date for line in parsed.lines] == [
        datetime.date(2026, 2, 10),
        datetime.date(2026, 2, 13),
    ]


def test_it_ignores_a_time_after_the_date() -> None:
    parsed = parse_text(
        "Employee ID,Date,Amount\nE1,2026-10-02T14:31:00,1\nE2,2026-10-03 08:00,1\n"
    )

    assert [line.date for line in parsed.lines] == [
        datetime.date(2026, 10, 2),
        datetime.date(2026, 10, 3),
    ]


def test_it_reports_an_unreadable_date() -> None:
    errors = errors_of(b"Employee ID,Date,Amount\nE1,2026-10-02,1\nE2,someday,1\n")

    assert errors == [
        {
            "line": 3,
            "column": "Date",
            "value": "someday",
            "message": "not a valid date (expected a date like 2026-10-31)",
        }
    ]


def test_it_reports_a_missing_amount() -> None:
    errors = errors_of(b"Employee ID,Amount\nE1,\n")

    assert errors == [{"line": 2, "column": "Amount", "value": "", "message": "amount is missing"}]


def test_it_collects_every_error_of_the_file() -> None:
    rows = "".join(f"E{n},bad{n}\n" for n in range(250))
    with pytest.raises(InvalidFile) as caught:
        parse_statement(f"Employee ID,Amount\n{rows}".encode())

    assert caught.value.error_count == 250
    assert len(caught.value.details) == 200
    assert caught.value.errors[-1].line == 251


def test_it_falls_back_to_point_and_reports_mixed_separators() -> None:
    errors = errors_of(b"Employee ID;Amount\nE1;1.234,56\nE2;1,234.56\nE3;7\n")

    assert [(e["line"], e["value"]) for e in errors] == [(2, "1.234,56")]
    assert "thousands separators in the wrong place" in str(errors[0]["message"])


# --- subtotals and control totals ----------------------------------------------------


def test_it_records_subtotals_and_whether_they_agree() -> None:
    text = (
        "Employee ID,Name,Merchant,Amount\n"
        "E1,Ann,Taxi,10.00\n"
        "E1,Ann,Hotel,5.00\n"
        ",,Subtotal,15.00\n"
        "E2,Bo,Taxi,7.00\n"
        ",,Sub-total,8.00\n"
        ",,Grand Total,22.00\n"
    )
    parsed = parse_text(text)

    assert len(parsed.lines) == 3
    assert [(s.line_number, s.amount, s.block_sum, s.agrees) for s in parsed.subtotals] == [
        (4, Decimal("15.00"), Decimal("15.00"), True),
        (6, Decimal("8.00"), Decimal("7.00"), False),
    ]
    assert [(t.line_number, t.lines_sum) for t in parsed.control_totals] == [(7, Decimal("22.00"))]


def test_it_treats_a_total_label_in_the_name_column_as_a_total_row() -> None:
    parsed = parse_text("Employee ID,Cardholder Name,Amount\nE1,Ann,1.50\n,TOTAL,1.50\n")

    assert len(parsed.lines) == 1
    assert parsed.control_totals[0].amount == Decimal("1.50")


def test_it_rejects_a_truncated_file_whose_total_no_longer_matches() -> None:
    lines = fixture("car_2026_10.csv").decode("utf-8-sig").splitlines(keepends=True)
    truncated = "".join(lines[:11] + lines[12:]).encode()  # E1006's 999.99 is gone

    errors = errors_of(truncated)

    assert errors == [
        {
            "line": 14,
            "column": "Billing Amount",
            "value": "$3,087.03",
            "message": (
                "control total 3,087.03 does not match the sum of the 11 lines above it "
                "(2,087.04): the file may be truncated or edited"
            ),
        }
    ]


def test_it_skips_a_note_row_without_money_with_a_warning() -> None:
    parsed = parse_text("Employee ID,Merchant,Amount\nE1,x,1.00\n,End of report,\n")

    assert (len(parsed.lines), parsed.blank_rows) == (1, 0)
    assert parsed.summary.warnings == [
        "1 row(s) with neither an employee nor an amount were skipped (lines 3)"
    ]


def test_it_requires_an_amount_on_a_control_total() -> None:
    errors = errors_of(b"Employee ID,Merchant,Amount\nE1,x,1.00\n,Total,\n")

    assert errors[0]["message"] == "control total has no amount"


# --- spreadsheets ----------------------------------------------------------------------


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.create_sheet("Ignored").append(["Employee ID", "Amount"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_it_reads_the_first_sheet_of_a_workbook() -> None:
    data = xlsx_bytes(
        [
            ["Corporate card activity"],
            [],
            ["Employee ID", "Cardholder Name", "Transaction Date", "Amount"],
            [1001, "Díaz, Carmen", datetime.datetime(2026, 10, 2, 9, 30), 120.5],
            [1001, "Díaz, Carmen", "10/05/2026", "$1,234.56"],
            [None, None, None, None],
            [1002, "Bo", datetime.date(2026, 10, 3), 0.1 + 0.2],
            [None, None, "TOTAL", 1355.36],
        ]
    )
    parsed = parse_statement(data)

    assert (parsed.file_format, parsed.encoding, parsed.delimiter) == ("xlsx", None, None)
    assert parsed.header_line == 3
    assert summary(parsed.lines) == [
        (4, "1001", "Díaz, Carmen", Decimal("120.50"), datetime.date(2026, 10, 2), ""),
        (5, "1001", "Díaz, Carmen", Decimal("1234.56"), datetime.date(2026, 10, 5), ""),
        (7, "1002", "Bo", Decimal("0.30"), datetime.date(2026, 10, 3), ""),
    ]
    assert parsed.blank_rows == 1
    assert parsed.control_totals[0].line_number == 8


def test_it_reports_spreadsheet_rows_by_row_number() -> None:
    data = xlsx_bytes([["Employee ID", "Amount"], ["E1", 1.234], ["E2", "abc"]])

    errors = errors_of(data)

    assert [(e["line"], e["value"]) for e in errors] == [(2, "1.234"), (3, "abc")]
    assert "more than two decimal places" in str(errors[0]["message"])


def test_it_detects_a_workbook_from_its_content_not_its_name() -> None:
    data = xlsx_bytes([["Employee ID", "Amount"], ["E1", 5]])

    parsed = parse_statement(data, file_label="statement.csv")

    assert parsed.file_format == "xlsx"


# --- whole-file refusals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"\xef\xbb\xbf \r\n", "is empty"),
        (bytes(range(256)) * 4, "binary"),
        (b"PK\x03\x04not really a zip", "not a readable XLSX workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old-style Excel"),
    ],
)
def test_it_rejects_unreadable_files_with_one_file_level_error(data: bytes, message: str) -> None:
    errors = errors_of(data)

    assert len(errors) == 1
    assert errors[0]["line"] is None
    assert message in str(errors[0]["message"])


def test_it_rejects_an_oversized_file_naming_the_limit() -> None:
    data = b"Employee ID,Amount\n" + b"E1,1.00\n" * 200_000

    with pytest.raises(InvalidFile) as caught:
        parse_statement(data, max_bytes=1024 * 1024, file_label="Card statement")

    assert caught.value.errors[0].message == "Card statement is 1.53 MB; the limit is 1 MB."


def test_it_rejects_a_file_with_no_header_after_skip_lines() -> None:
    errors = errors_of(b"Employee ID,Amount\nE1,1\n", ImportSettings(skip_lines=5))

    assert "no header row" in str(errors[0]["message"])


# --- import profile settings ---------------------------------------------------------


def test_it_builds_settings_from_a_profile_dict() -> None:
    settings = ImportSettings.from_dict(
        {
            "name": "Bank",
            "delimiter": "tab",
            "encoding": "cp1252",
            "skip_lines": "2",
            "columns": {"employee_id": "Card No", "receipt_id": None},
            "decimal_separator": "comma",
            "date_format": "%d/%m/%Y",
            "charges_negative": True,
        }
    )

    assert settings == ImportSettings(
        delimiter="\t",
        encoding="windows-1252",
        skip_lines=2,
        columns={"employee_id": "Card No"},
        decimal_separator=",",
        date_format="%d/%m/%Y",
        charges_negative=True,
    )


def test_it_treats_blank_profile_values_as_auto_detect() -> None:
    settings = ImportSettings.from_dict({"name": "Auto", "delimiter": "", "skip_lines": None})

    assert settings == ImportSettings()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"columns": {"employee_number": "X"}}, "columns"),
        ({"columns": "Card No"}, "columns"),
        ({"delimiter": ":"}, "delimiter"),
        ({"encoding": "utf-16"}, "encoding"),
        ({"encoding": "klingon"}, "encoding"),
        ({"skip_lines": -1}, "skip_lines"),
        ({"skip_lines": "two"}, "skip_lines"),
        ({"decimal_separator": "'"}, "decimal_separator"),
        ({"date_format": "yyyy"}, "date_format"),
        ({"charges_negative": "maybe"}, "charges_negative"),
    ],
)
def test_it_refuses_bad_profile_values(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ImportSettings.from_dict(data)

    assert field in caught.value.details


def test_it_names_the_unknown_role() -> None:
    with pytest.raises(ValidationFailed, match=r"unknown column role.*employee_number"):
        ImportSettings.from_dict({"columns": {"employee_number": "Emp"}})
