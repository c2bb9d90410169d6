"""Rows naming nobody, truncated files and the import summary (SPEC §4)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import InvalidFile
from sessions_app.ingestion import ImportSettings, ParsedFile, parse_statement

HEADER = "Employee ID,Transaction Date,Merchant,Reference,Amount\n"


def parse(text: str, **settings: object) -> ParsedFile:
    return parse_statement(text.encode(), settings=ImportSettings(**settings))  # type: ignore[arg-type]


def refused(text: str, **settings: object) -> InvalidFile:
    with pytest.raises(InvalidFile) as caught:
        parse(text, **settings)
    return caught.value


def test_it_refuses_a_charge_without_an_employee_id_naming_its_line_and_cells() -> None:
    error = refused(
        HEADER
        + "E1,2026-10-01,Shop,R1,10.00\n,2026-10-02,Cafe Nero,R2,4.50\nE2,2026-10-03,X,R3,1\n"
    )

    assert error.error_count == 1
    listed = error.details[0]
    assert listed["line"] == 3
    assert listed["message"].startswith("a charge without an employee id (")
    assert "Merchant: Cafe Nero" in listed["message"]
    assert "Amount: 4.50" in listed["message"]


@pytest.mark.parametrize(
    "row",
    [",2026-10-02,,,4.50", ",,Cafe,,4.50", ",,,R2,4.50"],
    ids=["date", "merchant", "reference"],
)
def test_any_transaction_cell_makes_a_keyless_row_a_charge(row: str) -> None:
    error = refused(HEADER + "E1,2026-10-01,Shop,R1,10.00\n" + row + "\n")

    assert "a charge without an employee id" in error.details[0]["message"]


def test_an_unmapped_transaction_column_also_shows_a_charge() -> None:
    text = "Employee ID,Amount,Transaction ID\nE1,1.00,T1\n,2.00,T2\n"

    assert "a charge without an employee id" in refused(text).details[0]["message"]


def test_the_profile_can_book_charges_without_an_employee_id_to_an_employee() -> None:
    parsed = parse(
        HEADER + "E1,2026-10-01,Shop,R1,10.00\n,2026-10-02,Cafe,R2,4.50\n",
        unassigned_employee_id="UNASSIGNED",
    )

    assert [(line.employee_id, line.amount) for line in parsed.lines] == [
        ("E1", Decimal("10.00")),
        ("UNASSIGNED", Decimal("4.50")),
    ]
    assert parsed.summary.unassigned_lines == 1
    assert parsed.summary.total_amount == Decimal("14.50")


def test_a_name_without_a_key_stays_an_error() -> None:
    text = "Employee ID,Employee Name,Amount\nE1,Ann,1.00\n,Bob,2.00\n"

    assert refused(text).details[0]["message"] == "employee id is missing"


def test_labelled_subtotals_and_total_are_checked_and_not_counted() -> None:
    parsed = parse(
        HEADER
        + "E1,2026-10-01,Shop,R1,10.00\nE1,2026-10-02,Shop,R2,2.00\n,,Subtotal,,12.00\n"
        + "E2,2026-10-03,Cafe,R3,1.00\n,,Sub-total,,1.00\n,,Grand Total,,13.00\n"
    )

    assert parsed.total_amount == Decimal("13.00")
    summary = parsed.summary
    assert (summary.summary_rows_agreeing, summary.summary_rows_not_agreeing) == (3, 0)
    assert summary.control_total == Decimal("13.00")
    assert summary.warnings == []


def test_a_total_that_matches_nothing_refuses_the_file() -> None:
    error = refused(
        HEADER + "E1,2026-10-01,Shop,R1,10.00\nE2,2026-10-01,Shop,R2,2.00\n,,TOTAL,,99.00\n"
    )

    assert (
        "control total 99.00 does not match the sum of the 2 lines above it (12.00)"
        in (error.details[0]["message"])
    )


def test_a_cardholder_total_equal_to_its_block_is_read_as_a_block_total() -> None:
    parsed = parse(
        HEADER
        + "E1,2026-10-01,Shop,R1,10.00\n,,Total,,10.00\nE2,2026-10-01,Shop,R2,2.00\n"
        + ",,Total,,2.00\n,,Grand total,,12.00\n"
    )

    assert parsed.summary.summary_rows_agreeing == 3
    assert parsed.summary.control_total == Decimal("12.00")


def test_an_unlabelled_amount_row_agreeing_with_its_block_or_the_running_total_is_quiet() -> None:
    parsed = parse(
        "Employee ID,Amount,Currency\nE1,1.00,GBP\nE1,2.00,GBP\n,3.00,GBP\nE2,4.00,GBP\n,7.00,GBP\n"
    )

    assert parsed.total_amount == Decimal("7.00")
    assert parsed.summary.summary_rows_agreeing == 2
    assert parsed.summary.warnings == []


def test_an_unlabelled_amount_row_agreeing_with_nothing_is_a_warning() -> None:
    parsed = parse("Employee ID,Amount\nE1,1.00\nE2,2.00\n,5.00\n")

    assert parsed.total_amount == Decimal("3.00")
    assert parsed.summary.summary_rows_not_agreeing == 1
    assert parsed.summary.warnings == [
        "line 4: row without an employee id 5.00 agrees neither with the lines since the "
        "previous summary row (3.00) nor with the total of every line above it (3.00); it "
        "was not counted as a charge"
    ]


def test_the_summary_counts_what_the_file_held() -> None:
    parsed = parse(HEADER + "E1,2026-10-01,Shop,R1,10.00\n\nE2,2026-10-01,Shop,R2,2.50\n\n")

    assert parsed.summary.as_dict() == {
        "lines_read": 2,
        "employees": 2,
        "total_amount": "12.50",
        "blank_rows": 2,
        "summary_rows": 0,
        "summary_rows_agreeing": 0,
        "summary_rows_not_agreeing": 0,
        "control_total": None,
        "unassigned_lines": 0,
        "warnings": [],
        "warning_count": 0,
    }


# --- truncation -----------------------------------------------------------------------------


def test_a_last_line_cut_short_is_refused_as_truncated() -> None:
    error = refused(HEADER + "E1,2026-10-01,Shop,R1,10.00\nE2,2026-10-02,Sh")

    first = error.details[0]
    assert first["line"] == 3
    assert "truncated" in first["message"]
    assert "after 3 of the 5 cells the header has" in first["message"]


def test_a_file_ending_inside_a_quote_is_refused_as_truncated() -> None:
    error = refused(HEADER + 'E1,2026-10-01,Shop,R1,10.00\nE2,2026-10-02,"Shop, the')

    assert "truncated" in error.details[0]["message"]
    assert "quoted cell that starts on line 3" in error.details[0]["message"]


def test_a_masked_card_fragment_does_not_become_an_employee() -> None:
    text = "Card Number,Amount,Merchant\n****1234,10.00,Shop\n****5678,2.00,Cafe\n**"

    error = refused(text, columns={"employee_id": "Card Number"})

    assert "truncated" in error.details[0]["message"]


@pytest.mark.parametrize("delimiter", [",", ";"])
@pytest.mark.parametrize(
    ("columns", "rows", "cut", "whole", "expected"),
    [
        pytest.param(
            ["Employee ID", "Amount"],
            [["E1", "10.00"], ["E2", "5.50"]],
            ["E3", "12.3"],
            "12.34",
            "an amount with 2 decimals",
            id="amount 12.3 of 12.34",
        ),
        pytest.param(
            ["Employee ID", "Amount", "Transaction Date"],
            [["E1", "10.00", "2024-10-01"], ["E2", "5.50", "2024-10-02"]],
            ["E3", "12.34", "2024-10-3"],
            "2024-10-31",
            "a value like '2024-10-01'",
            id="date 2024-10-3 of 2024-10-31",
        ),
        pytest.param(
            ["Employee ID", "Amount"],
            [["E1", "1,000.00"], ["E2", "2,500.50"]],
            ["E3", "1,234"],
            "1,234.56",
            "an amount with 2 decimals",
            id="amount 1,234 of 1,234.56",
        ),
    ],
)
def test_a_last_cell_cut_short_is_refused_as_truncated(
    delimiter: str,
    columns: list[str],
    rows: list[list[str]],
    cut: list[str],
    whole: str,
    expected: str,
) -> None:
    def line(cells: list[str]) -> str:
        return delimiter.join(f'"{cell}"' if delimiter in cell else cell for cell in cells)

    complete = "\n".join(line(cells) for cells in [columns, *rows, [*cut[:-1], whole]])
    cut_short = "\n".join(line(cells) for cells in [columns, *rows, cut])

    first = refused(cut_short).details[0]

    assert first["line"] == 4
    assert "looks truncated" in first["message"]
    assert f"its {columns[-1]} cell" in first["message"] and expected in first["message"]
    assert len(parse(complete).lines) == 3  # the same file, whole but without a final break


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_complete_last_line_without_a_line_break_is_read_whatever_its_column(
    delimiter: str,
) -> None:
    rows = [["E1", "10.00", "2024-10-01", "R0001"], ["E2", "5.50", "2024-10-02", "R0002"]]
    rows.append(["E3", "12.34", "2024-10-31", "R0003"])
    header = ["Employee ID", "Amount", "Transaction Date", "Reference"]
    text = "\n".join(delimiter.join(cells) for cells in [header, *rows])

    parsed = parse(text)

    assert parsed.total_amount == Decimal("27.84")


def test_a_complete_file_without_a_final_line_break_is_read() -> None:
    parsed = parse(HEADER + "E1,2026-10-01,Shop,R1,10.00\nE2,2026-10-02,Shop,R2,2.00")

    assert parsed.total_amount == Decimal("12.00")
