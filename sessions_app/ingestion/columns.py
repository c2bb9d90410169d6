"""Which column of a file plays which role: header aliases, profile overrides, detection."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from core.errors import InvalidFile, RowError, quote_value

ROLES: tuple[str, ...] = (
    "employee_id",
    "employee_name",
    "amount",
    "date",
    "merchant",
    "receipt_id",
    "currency",
)
REQUIRED_ROLES: tuple[str, ...] = ("employee_id", "amount")
ROLE_LABELS: dict[str, str] = {
    "employee_id": "employee id",
    "employee_name": "employee name",
    "amount": "amount",
    "date": "date",
    "merchant": "merchant",
    "receipt_id": "receipt id",
    "currency": "currency",
}
# A profile maps each role to one header or to alternatives, the first found winning.
Overrides = Mapping[str, str | Sequence[str]]

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
    # Only a profile maps the currency column: a file's own currency column is not checked
    # unless the operator asks for it.
    "currency": (),
}

_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]")


def fold_accents(text: str) -> str:
    """`TRANSAÇÃO` -> `TRANSACAO`: letters without their accents, `ß` as `ss`."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def normalise_header(text: str) -> str:
    """Lowercase letters and digits only, accents folded, so "Emp. ID", "EMP_ID" and
    "emp id" agree and "TRANSAÇÃO" is "transacao". "#" reads as "number" first:
    "Employee #" is "Employee Number"."""
    return _NOT_ALPHANUMERIC.sub("", fold_accents(text).lower().replace("#", "number"))


def alternatives(header: str | Sequence[str]) -> tuple[str, ...]:
    """A profile column as its list of alternative headers."""
    return (header,) if isinstance(header, str) else tuple(header)


def describe_override(header: str | Sequence[str]) -> str:
    return " or ".join(f'"{quote_value(text)}"' for text in alternatives(header))


_NORMALISED_ALIASES = {
    role: tuple(normalise_header(alias) for alias in aliases) for role, aliases in ALIASES.items()
}


def match_columns(headers: Sequence[str], overrides: Overrides) -> dict[str, int]:
    """Role -> column index for one header row. A profile's columns are found by their
    header text, the first alternative present winning (and may share a column, e.g. a
    cardholder name as id and name); the other roles are detected from the aliases among
    the columns still free."""
    normalised = [normalise_header(header) for header in headers]
    positions: dict[str, int] = {}
    for i, text in enumerate(normalised):
        if text:
            positions.setdefault(text, i)
    found: dict[str, int] = {}
    for role, header in overrides.items():
        for wanted in alternatives(header):
            index = positions.get(normalise_header(wanted))
            if index is not None:
                found[role] = index
                break
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


def missing_roles(found: Mapping[str, int], overrides: Overrides) -> list[str]:
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
        overrides: Overrides | None = None,
        file_label: str = "The file",
        suggestion: Mapping[str, object] | None = None,
    ) -> None:
        found_headers = [quote_value(header) or "" for header in found_headers]
        self.found_headers = found_headers
        self.missing_roles = missing
        self.suggestion = dict(suggestion or {})
        columns = self.suggestion.get("columns")
        # Role -> header proposed from the content, for a mapping form.
        self.suggested_columns: dict[str, str] = (
            {str(role): str(header) for role, header in columns.items()}
            if isinstance(columns, dict)
            else {}
        )
        self.columns = {"found": list(found_headers), "missing": list(missing)}
        message = _missing_message(found_headers, missing, overrides or {})
        if self.suggested_columns:
            proposed = ", ".join(
                f'{ROLE_LABELS[role]} = "{header}"'
                for role, header in self.suggested_columns.items()
            )
            message += f" Suggested mapping from the content: {proposed}."
        super().__init__([RowError(None, None, None, message)], file_label=file_label)
        # The API's details: the one listed error carries what a mapping form needs.
        self.details[0].update(
            found=list(found_headers),
            missing=list(missing),
            suggested_profile=self.suggestion or None,
        )


def _missing_message(found: list[str], missing: list[str], overrides: Overrides) -> str:
    labels = [
        f"{ROLE_LABELS[role]} ({describe_override(overrides[role])})"
        if role in overrides
        else ROLE_LABELS[role]
        for role in missing
    ]
    found_text = f"Columns found: {', '.join(found)}." if found else "No column headers found."
    message = f"Could not find the columns: {', '.join(labels)}. {found_text}"
    if len(found) == 1 and any(mark in found[0] for mark in ",;\t|"):
        # One "column" holding separators: the file was split on the wrong delimiter.
        message += " Check the delimiter of the import profile."
    return message
