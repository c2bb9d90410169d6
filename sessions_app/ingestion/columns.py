"""Which column of a file plays which role: header aliases, profile overrides, detection."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from sessions_app.errors import InvalidFile, RowError

ROLES: tuple[str, ...] = (
    "employee_id",
    "employee_name",
    "amount",
    "date",
    "merchant",
    "receipt_id",
)
REQUIRED_ROLES: tuple[str, ...] = ("employee_id", "amount")
ROLE_LABELS: dict[str, str] = {
    "employee_id": "employee id",
    "employee_name": "employee name",
    "amount": "amount",
    "date": "date",
    "merchant": "merchant",
    "receipt_id": "receipt id",
}

# Order matters within a role: when a file has several candidates the earlier alias wins
# (a file with both "Amount" and "Total" uses "Amount").
ALIASES: dict[str, tuple[str, ...]] = {
    "employee_id": (
        "Employee ID",
        "Emp ID",
        "Employee Number",
        "Cardholder ID",
        "Employee No",
        "Emp No",
        "Emp Number",
        "Staff ID",
        "Staff Number",
    ),
    "employee_name": ("Employee Name", "Cardholder Name", "Cardholder", "Name", "Full Name"),
    "amount": (
        "Amount",
        "Transaction Amount",
        "Billing Amount",
        "Receipt Amount",
        "Total",
        "Amt",
        "Transaction Amt",
    ),
    "date": (
        "Transaction Date",
        "Posting Date",
        "Post Date",
        "Receipt Date",
        "Date",
        "Trans Date",
        "Txn Date",
        "Expense Date",
    ),
    "merchant": ("Merchant", "Merchant Name", "Description", "Vendor", "Payee"),
    "receipt_id": ("Receipt ID", "Receipt Number", "Receipt No", "Reference", "Reference Number"),
}

_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]")


def normalise_header(text: str) -> str:
    """Lowercase letters and digits only, so "Emp. ID", "EMP_ID" and "emp id" agree.
    "#" reads as "number" first: "Employee #" is "Employee Number"."""
    return _NOT_ALPHANUMERIC.sub("", text.lower().replace("#", "number"))


_NORMALISED_ALIASES = {
    role: tuple(normalise_header(alias) for alias in aliases) for role, aliases in ALIASES.items()
}


def match_columns(headers: Sequence[str], overrides: Mapping[str, str]) -> dict[str, int]:
    """Role -> column index for one header row. A profile's columns are found by their
    header text (and may share a column, e.g. a cardholder name as id and name); the
    other roles are detected from the aliases among the columns still free."""
    normalised = [normalise_header(header) for header in headers]
    found: dict[str, int] = {}
    for role, header in overrides.items():
        wanted = normalise_header(header)
        index = next((i for i, text in enumerate(normalised) if text and text == wanted), None)
        if index is not None:
            found[role] = index
    used = set(found.values())
    for role in ROLES:
        if role in overrides:
            continue  # a profile column that is absent stays missing, never guessed
        index = _detect(role, normalised, used)
        if index is not None:
            found[role] = index
            used.add(index)
    return found


def _detect(role: str, normalised: list[str], used: set[int]) -> int | None:
    free = [(i, text) for i, text in enumerate(normalised) if i not in used and text]
    for alias in _NORMALISED_ALIASES[role]:
        for index, text in free:
            if text == alias:
                return index
    if role == "amount":
        # "Amount USD", "Amount (EUR)": still the amount when nothing matched exactly.
        return next((i for i, text in free if text.startswith("amount")), None)
    return None


def missing_roles(found: Mapping[str, int], overrides: Mapping[str, str]) -> list[str]:
    """Required roles plus every role a profile names, that the header row lacks."""
    wanted = list(REQUIRED_ROLES) + [role for role in ROLES if role in overrides]
    return [role for role in dict.fromkeys(wanted) if role not in found]


class ColumnsNotFound(InvalidFile):
    """The header row lacks required (or profile-named) columns. `found_headers` and
    `missing_roles` let a page offer a mapping form pre-filled with the file's headers."""

    def __init__(
        self,
        found_headers: list[str],
        missing: list[str],
        *,
        overrides: Mapping[str, str] | None = None,
        file_label: str = "The file",
    ) -> None:
        self.found_headers = found_headers
        self.missing_roles = missing
        self.columns = {"found": list(found_headers), "missing": list(missing)}
        message = _missing_message(found_headers, missing, overrides or {})
        super().__init__([RowError(None, None, None, message)], file_label=file_label)


def _missing_message(found: list[str], missing: list[str], overrides: Mapping[str, str]) -> str:
    labels = [
        f'{ROLE_LABELS[role]} ("{overrides[role]}")' if role in overrides else ROLE_LABELS[role]
        for role in missing
    ]
    found_text = f"Columns found: {', '.join(found)}." if found else "No column headers found."
    message = f"Could not find the columns: {', '.join(labels)}. {found_text}"
    if len(found) == 1 and any(mark in found[0] for mark in ",;\t|"):
        # One "column" holding separators: the file was split on the wrong delimiter.
        message += " Check the delimiter of the import profile."
    return message
