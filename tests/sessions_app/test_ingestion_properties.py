"""Property tests: whatever the layout, every charge is counted or the file is refused,
never a silent difference; any prefix of a valid file cut mid-line is refused as truncated."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.errors import InvalidFile
from sessions_app.ingestion import ImportSettings, parse_statement

HEADERS = {
    "employee_id": ["Employee ID", "Emp ID", "Cardholder ID"],
    "employee_name": ["Employee Name", "Cardholder Name"],
    "amount": ["Amount", "Transaction Amount", "Billing Amount"],
    "date": ["Transaction Date", "Posting Date"],
    "merchant": ["Merchant", "Description"],
    "receipt_id": ["Reference", "Receipt ID"],
    "currency": ["Currency"],
}
FREE_TEXT = {"employee_name", "merchant", "currency"}
cents = st.integers(min_value=-50_000, max_value=500_000)


@dataclass
class Generated:
    text: str
    charges: Decimal  # what every charge of the file adds up to
    keyless_charges: int
    unassigned: bool
    last_role: str = ""


def _money(value: int) -> str:
    return f"{Decimal(value) / 100:.2f}"


@st.composite
def statements(draw: st.DrawFn) -> Generated:
    optional = draw(
        st.lists(
            st.sampled_from(["employee_name", "date", "merchant", "receipt_id", "currency"]),
            unique=True,
        )
    )
    roles = draw(st.permutations(["employee_id", "amount", *optional]))
    header = [draw(st.sampled_from(HEADERS[role])) for role in roles]
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    unassigned = draw(st.booleans())
    rows: list[dict[str, str]] = []
    total = block = 0
    keyless = 0
    for _ in range(draw(st.integers(min_value=1, max_value=25))):
        kind = draw(
            st.sampled_from(
                ["charge", "charge", "charge", "blank", "subtotal", "keyless", "amount_row"]
            )
        )
        if kind == "blank":
            rows.append({})
        elif kind == "subtotal":
            agrees = draw(st.booleans())
            value = block if agrees else block + draw(st.integers(min_value=1, max_value=999))
            rows.append(
                {"merchant": "Subtotal", "amount": _money(value)}
                if "merchant" in roles
                else {"employee_id": "Subtotal", "amount": _money(value)}
            )
            block = 0
        elif kind == "amount_row":
            value = draw(st.sampled_from([block, total, block + 7]))
            rows.append({"amount": _money(value), "currency": "USD"})
            block = 0
        else:
            amount = draw(cents)
            row = {
                "employee_id": f"E{draw(st.integers(min_value=1, max_value=6))}",
                "employee_name": "Ann Lee",
                "amount": _money(amount),
                "date": f"2026-10-{draw(st.integers(min_value=1, max_value=28)):02d}",
                "merchant": draw(st.sampled_from(["Shop", "Cafe", "Hotel"])),
                "receipt_id": f"R{len(rows):04d}",
                "currency": "USD",
            }
            if kind == "keyless":
                row["employee_id"] = ""
                row["employee_name"] = ""
                # A charge without a key carries transaction data: a date, merchant or reference.
                if not {"date", "merchant", "receipt_id"} & set(roles):
                    continue
                keyless += 1
            rows.append(row)
            total += amount
            block += amount
    if draw(st.booleans()) and "merchant" in roles:
        rows.append({"merchant": "Grand Total", "amount": _money(total)})
    lines = [delimiter.join(header)]
    lines += [delimiter.join(row.get(role, "") for role in roles) for row in rows]
    text = "\n".join(lines) + "\n"
    return Generated(text, Decimal(total) / 100, keyless, unassigned, roles[-1])


def _profile(generated: Generated) -> ImportSettings:
    return ImportSettings(unassigned_employee_id="UNASSIGNED" if generated.unassigned else "")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_every_charge_is_counted_or_the_file_is_refused(generated: Generated) -> None:
    try:
        parsed = parse_statement(generated.text.encode(), settings=_profile(generated))
    except InvalidFile as refused:
        assert refused.error_count >= 1
        assert (generated.keyless_charges and not generated.unassigned) or any(
            "does not match" in error.message or "truncated" in error.message
            for error in refused.errors
        ), [error.message for error in refused.errors]
        return
    assert parsed.total_amount == generated.charges
    assert generated.unassigned or not generated.keyless_charges
    disagreeing = [row for row in parsed.subtotals if not row.agrees]
    assert len(parsed.summary.warnings) >= len(disagreeing) > -1
    if disagreeing:
        assert parsed.summary.warning_count >= len(disagreeing)


@st.composite
def cut_files(draw: st.DrawFn) -> tuple[str, int]:
    generated = draw(statements())
    text = generated.text
    lines = text.split("\n")
    # A cut anywhere inside a data line: before its last delimiter the last record is
    # short; after it, its last cell is cut short. A cut inside a free-text last cell
    # (a merchant, a name, a currency code) loses no money and is left alone.
    # The last cell is compared with the same column on the lines before, so a cut
    # inside it counts once an earlier line has a value there.
    free_text = generated.last_role in FREE_TEXT
    candidates = []
    offset = len(lines[0]) + 1
    values_above = empties_above = False
    for line in lines[1:-1]:
        delimiter_positions = [i for i, char in enumerate(line) if char in ",;\t"]
        last_cell = line[delimiter_positions[-1] + 1 :] if delimiter_positions else line
        inside_last_cell = values_above and not free_text
        end = len(line) if inside_last_cell else delimiter_positions[-1] + 1
        if line.strip(",;\t") and delimiter_positions:
            for position in range(1, end):
                # An empty last cell, as some lines above have, reads as a whole line.
                if position != delimiter_positions[-1] + 1 or not empties_above:
                    candidates.append(offset + position)
            empties_above = empties_above or not last_cell
        values_above = values_above or (bool(last_cell) and "total" not in last_cell.lower())
        offset += len(line) + 1
    assume(candidates)  # a file with data lines to cut
    return text[: draw(st.sampled_from(candidates))], 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut_files())
def test_any_prefix_cut_mid_line_is_refused_as_truncated(cut: tuple[str, int]) -> None:
    text, _ = cut
    try:
        parse_statement(text.encode())
    except InvalidFile as refused:
        assert any("truncated" in error.message for error in refused.errors), [
            error.message for error in refused.errors
        ]
    else:
        raise AssertionError(f"a file cut mid-line was accepted: {text[-60:]!r}")
