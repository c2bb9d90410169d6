"""The reconciliation rules of SPEC §5 against the shared samples and edge cases."""

from __future__ import annotations

import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sessions_app.ingestion import ParsedLine, parse_statement
from sessions_app.reconciliation import (
    EXPORT_READY_STATUSES,
    STATUS_EXCESS_RECEIPTS,
    STATUS_MATCHED,
    STATUS_MISSING_RECEIPTS,
    STATUS_NO_CARD_ACTIVITY,
    STATUS_RESOLVED,
    EmployeeResult,
    apply_receipt_versions,
    classify,
    receipt_line_key,
    reconcile,
    skip_held_duplicates,
)
from tests.samples import FIXTURES

TOLERANCE = Decimal("1.00")


def lines_of(name: str) -> list[ParsedLine]:
    return parse_statement((FIXTURES / name).read_bytes()).lines


def table(results: list[EmployeeResult]) -> list[tuple[str, str, str, str]]:
    return [(r.employee_id, str(r.car_amount), str(r.receipt_amount), r.status) for r in results]


def receipt(
    employee_id: str = "E1", amount: str = "10.00", receipt_id: str = "R-1", day: int = 1
) -> SimpleNamespace:
    return SimpleNamespace(
        employee_id=employee_id,
        employee_name="",
        amount=Decimal(amount),
        date=datetime.date(2026, 10, day),
        receipt_id=receipt_id,
    )


# --- classify ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("car", "receipts", "has_card_lines", "expected"),
    [
        ("100.00", "100.00", True, STATUS_MATCHED),
        ("100.00", "99.00", True, STATUS_MATCHED),  # exactly at tolerance
        ("100.00", "101.00", True, STATUS_MATCHED),
        ("100.00", "98.99", True, STATUS_MISSING_RECEIPTS),
        ("100.00", "101.01", True, STATUS_EXCESS_RECEIPTS),
        ("0.00", "25.00", False, STATUS_NO_CARD_ACTIVITY),
        ("0.00", "0.50", False, STATUS_NO_CARD_ACTIVITY),  # never export-ready without charges
        ("-45.00", "-45.00", True, STATUS_MATCHED),  # a refund-only employee
    ],
)
def test_it_classifies_by_difference_and_tolerance(
    car: str, receipts: str, has_card_lines: bool, expected: str
) -> None:
    status = classify(
        car_amount=Decimal(car),
        receipt_amount=Decimal(receipts),
        tolerance=TOLERANCE,
        has_card_lines=has_card_lines,
    )

    assert status == expected


def test_it_uses_zero_tolerance_strictly() -> None:
    status = classify(
        car_amount=Decimal("10.00"),
        receipt_amount=Decimal("9.99"),
        tolerance=Decimal("0.00"),
        has_card_lines=True,
    )

    assert status == STATUS_MISSING_RECEIPTS


def test_it_refuses_a_negative_tolerance() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        classify(
            car_amount=Decimal(1),
            receipt_amount=Decimal(1),
            tolerance=Decimal("-0.01"),
            has_card_lines=True,
        )


def test_it_makes_only_matched_and_resolved_export_ready() -> None:
    assert frozenset({STATUS_MATCHED, STATUS_RESOLVED}) == EXPORT_READY_STATUSES


# --- the shared samples ----------------------------------------------------------------


def test_it_reconciles_the_card_report_with_receipts_v1() -> None:
    results = reconcile(
        lines_of("car_2026_10.csv"), lines_of("receipts_2026_10_v1.csv"), tolerance=TOLERANCE
    )

    assert table(results) == [
        ("E1001", "155.75", "155.00", STATUS_MATCHED),
        ("E1002", "1205.00", "1205.00", STATUS_MATCHED),
        ("E1003", "89.99", "80.00", STATUS_MISSING_RECEIPTS),
        ("E1004", "512.30", "300.00", STATUS_MISSING_RECEIPTS),
        ("E1005", "64.00", "64.00", STATUS_MATCHED),
        ("E1006", "999.99", "0.00", STATUS_MISSING_RECEIPTS),
        ("E1007", "60.00", "60.00", STATUS_MATCHED),
        ("E1008", "0.00", "25.00", STATUS_NO_CARD_ACTIVITY),
    ]
    assert sum(r.car_amount for r in results if r.export_ready) == Decimal("1484.75")


def test_it_takes_names_from_the_card_report_then_from_receipts() -> None:
    results = reconcile(
        lines_of("car_2026_10.csv"), lines_of("receipts_2026_10_v1.csv"), tolerance=TOLERANCE
    )
    by_id = {r.employee_id: r for r in results}

    assert by_id["E1003"].employee_name == "Díaz, Carmen"
    assert by_id["E1008"].employee_name == "Hiro Tanaka"
    assert (by_id["E1001"].difference, by_id["E1006"].difference) == (
        Decimal("-0.75"),
        Decimal("-999.99"),
    )
    assert by_id["E1008"].has_card_lines is False


def test_it_reconciles_the_card_report_with_receipts_v2() -> None:
    results = reconcile(
        lines_of("car_2026_10.csv"), lines_of("receipts_2026_10_v2.csv"), tolerance=TOLERANCE
    )

    assert {r.employee_id: r.status for r in results} == {
        "E1001": STATUS_MATCHED,
        "E1002": STATUS_MATCHED,
        "E1003": STATUS_MATCHED,
        "E1004": STATUS_MATCHED,
        "E1005": STATUS_EXCESS_RECEIPTS,
        "E1006": STATUS_MATCHED,
        "E1007": STATUS_MATCHED,
        "E1008": STATUS_NO_CARD_ACTIVITY,
    }
    by_id = {r.employee_id: r for r in results}
    assert by_id["E1001"].receipt_amount == Decimal("155.75")
    assert by_id["E1005"].receipt_amount == Decimal("74.00")


def test_it_appends_late_receipts_skipping_the_one_already_held() -> None:
    v1 = lines_of("receipts_2026_10_v1.csv")
    late = lines_of("receipts_2026_10_late.csv")

    in_effect, skipped = apply_receipt_versions([("replace", v1), ("append", late)])
    results = reconcile(lines_of("car_2026_10.csv"), in_effect, tolerance=TOLERANCE)

    assert skipped == 1
    assert len(in_effect) == len(v1) + 1
    assert table(results)[5] == ("E1006", "999.99", "999.99", STATUS_MATCHED)
    v1_only = reconcile(lines_of("car_2026_10.csv"), v1, tolerance=TOLERANCE)
    assert [r for r in results if r.employee_id != "E1006"] == [
        r for r in v1_only if r.employee_id != "E1006"
    ]


def test_it_replaces_everything_with_a_replace_version() -> None:
    v1 = lines_of("receipts_2026_10_v1.csv")
    v2 = lines_of("receipts_2026_10_v2.csv")
    late = lines_of("receipts_2026_10_late.csv")

    in_effect, skipped = apply_receipt_versions(
        [("replace", v1), ("append", late), ("replace", v2)]
    )

    assert in_effect == v2
    assert skipped == 0


# --- duplicates and versions ------------------------------------------------------------


def test_it_keys_receipt_lines_by_employee_date_amount_and_receipt_id() -> None:
    assert receipt_line_key(receipt(amount="80.0")) == receipt_line_key(receipt(amount="80.00"))
    assert receipt_line_key(receipt()) != receipt_line_key(receipt(receipt_id="R-2"))
    assert receipt_line_key(receipt()) != receipt_line_key(receipt(day=2))
    assert receipt_line_key(receipt()) != receipt_line_key(receipt(employee_id="E2"))


def test_it_skips_one_new_line_per_held_copy() -> None:
    held = [receipt()]
    new = [receipt(), receipt(), receipt(receipt_id="R-2")]

    kept, skipped = skip_held_duplicates(new, held)

    assert skipped == 1
    assert kept == [new[1], new[2]]


def test_it_keeps_the_line_objects_it_is_given() -> None:
    line = receipt(receipt_id="R-9")

    in_effect, _ = apply_receipt_versions([("replace", [receipt()]), ("append", [line])])

    assert in_effect[-1] is line


def test_it_refuses_an_unknown_version_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        apply_receipt_versions([("merge", [])])


def test_it_accepts_any_line_like_object() -> None:
    card = [SimpleNamespace(employee_id="E1", employee_name="Ann", amount=Decimal("10"))]

    results = reconcile(card, [receipt(amount="9.5")], tolerance=TOLERANCE)

    assert results == [
        EmployeeResult(
            employee_id="E1",
            employee_name="Ann",
            car_amount=Decimal("10.00"),
            receipt_amount=Decimal("9.50"),
            difference=Decimal("-0.50"),
            status=STATUS_MATCHED,
            has_card_lines=True,
        )
    ]
    assert str(results[0].car_amount) == "10.00"


def test_it_returns_nothing_for_no_lines() -> None:
    assert reconcile([], [], tolerance=TOLERANCE) == []


cents = st.integers(min_value=-(10**12), max_value=10**12)


@given(car=cents, receipt=cents, tolerance=st.integers(min_value=0, max_value=10**6))
@example(car=10_000, receipt=10_100, tolerance=100)  # exactly at the tolerance
@example(car=10_000, receipt=9_899, tolerance=100)  # one cent beyond it
def test_the_rules_decide_the_same_in_cents_as_in_amounts(car, receipt, tolerance):
    """The recalculation classifies on integer cents with the tolerance scaled alike."""
    for has_card_lines in (True, False):
        in_amounts = classify(
            car_amount=Decimal(car).scaleb(-2),
            receipt_amount=Decimal(receipt).scaleb(-2),
            tolerance=Decimal(tolerance).scaleb(-2),
            has_card_lines=has_card_lines,
        )
        in_cents = classify(
            car_amount=car,
            receipt_amount=receipt,
            tolerance=Decimal(tolerance).scaleb(-2).scaleb(2),
            has_card_lines=has_card_lines,
        )
        assert in_cents == in_amounts
