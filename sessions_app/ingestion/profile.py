"""What an import profile tells the parser; every field left empty means auto-detect."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationFailed

from .columns import ROLES
from .dates import date_format_problem
from .limits import FIELD_LENGTHS

DELIMITERS: dict[str, str] = {
    ",": ",",
    ";": ";",
    "\t": "\t",
    "\\t": "\t",
    "|": "|",
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "pipe": "|",
}
DECIMAL_SEPARATORS: dict[str, str] = {".": ".", ",": ",", "point": ".", "comma": ","}
# Canonical names, keyed by Python's own codec name so "cp1252", "latin-1" etc. all work.
ENCODINGS: dict[str, str] = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8",
    "cp1252": "windows-1252",
    "iso8859-1": "iso-8859-1",
}
MAX_SKIP_LINES = 1000
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off", ""}


@dataclass(frozen=True)
class ImportSettings:
    delimiter: str | None = None
    encoding: str | None = None
    skip_lines: int | None = None
    # Each role maps to one header or to a list of alternatives, the first found winning.
    columns: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    decimal_separator: str | None = None
    date_format: str | None = None
    charges_negative: bool = False
    # The employee a charge without an employee id is booked to (SPEC §4), or "" to refuse it.
    unassigned_employee_id: str = ""

    def __post_init__(self) -> None:
        # A private copy, so the caller's dict changing later cannot change the settings
        # (a plain dict rather than a read-only proxy, so settings stay picklable for jobs).
        object.__setattr__(
            self,
            "columns",
            {
                role: header if isinstance(header, str) else list(header)
                for role, header in self.columns.items()
            },
        )
        problems = self._problems()
        if problems:
            raise ValidationFailed("; ".join(problems.values()), details=problems)

    def _problems(self) -> dict[str, str]:
        problems: dict[str, str] = {}
        if self.delimiter is not None and self.delimiter not in ",;\t|":
            problems["delimiter"] = f"delimiter {self.delimiter!r} is not one of , ; tab |"
        if self.encoding is not None and self.encoding not in ENCODINGS.values():
            problems["encoding"] = _encoding_message(self.encoding)
        if self.skip_lines is not None and not 0 <= self.skip_lines <= MAX_SKIP_LINES:
            problems["skip_lines"] = f"skip_lines must be between 0 and {MAX_SKIP_LINES}"
        if self.decimal_separator not in (None, ".", ","):
            problems["decimal_separator"] = "decimal_separator must be '.' or ','"
        if self.date_format is not None:
            problem = date_format_problem(self.date_format)
            if problem:
                problems["date_format"] = problem
        unknown = [str(role) for role in self.columns if role not in ROLES]
        if unknown:
            problems["columns"] = _unknown_roles_message(unknown)
        elif not all(_is_header(header) for header in self.columns.values()):
            problems["columns"] = _HEADER_MESSAGE
        if len(self.unassigned_employee_id) > FIELD_LENGTHS["employee_id"]:
            problems["unassigned_employee_id"] = (
                f"unassigned_employee_id is longer than {FIELD_LENGTHS['employee_id']} characters"
            )
        return problems

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImportSettings:
        """Settings from an import profile's JSON (SPEC §13). Blank values mean
        auto-detect; unknown roles or bad values raise ValidationFailed naming them all."""
        problems: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name, convert in _CONVERTERS.items():
            try:
                values[name] = convert(data.get(name))
            except ValueError as error:
                problems[name] = str(error)
        if problems:
            raise ValidationFailed("; ".join(problems.values()), details=problems)
        return cls(**values)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _delimiter(value: Any) -> str | None:
    if value is None or value == "":
        return None  # a lone space or tab is a real delimiter, so no strip() here
    key = value.lower() if isinstance(value, str) and len(value) > 1 else value
    if not isinstance(key, str) or key not in DELIMITERS:
        raise ValueError(f"delimiter {value!r} is not one of , ; tab |")
    return DELIMITERS[key]


def _encoding(value: Any) -> str | None:
    if _blank(value):
        return None
    try:
        codec = codecs.lookup(str(value).strip()).name
    except LookupError:
        codec = ""
    if codec not in ENCODINGS:
        raise ValueError(_encoding_message(value))
    return ENCODINGS[codec]


def _encoding_message(value: Any) -> str:
    return f"encoding {value!r} is not supported; use utf-8, windows-1252 or iso-8859-1"


def _skip_lines(value: Any) -> int | None:
    if _blank(value):
        return None
    text = str(value).strip()
    whole_number = text.isascii() and text.isdigit() and not isinstance(value, bool)
    if not whole_number or int(text) > MAX_SKIP_LINES:
        raise ValueError(f"skip_lines must be a whole number between 0 and {MAX_SKIP_LINES}")
    return int(text)


_HEADER_MESSAGE = (
    "each column must be given as the header text of the file, or a list of alternative "
    'header texts (e.g. ["Division", "Divison"])'
)


def _is_header(header: Any) -> bool:
    if isinstance(header, str):
        return bool(header)
    return (
        isinstance(header, list | tuple)
        and bool(header)
        and all(isinstance(text, str) and text for text in header)
    )


def _columns(value: Any) -> dict[str, str | list[str]]:
    if _blank(value):
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("columns must map roles to header texts")
    unknown = [str(role) for role in value if role not in ROLES]
    if unknown:
        raise ValueError(_unknown_roles_message(unknown))
    columns: dict[str, str | list[str]] = {}
    for role, header in value.items():
        if isinstance(header, list | tuple):
            texts = [text.strip() for text in header if isinstance(text, str) and text.strip()]
            if len(texts) != len(header):
                raise ValueError(_HEADER_MESSAGE)
            if texts:
                columns[role] = texts[0] if len(texts) == 1 else texts
        elif not _blank(header):
            if not isinstance(header, str):
                raise ValueError(_HEADER_MESSAGE)
            # A form field may list alternatives one per line, or separated by " | ".
            texts = [text.strip() for text in header.replace(" | ", "\n").splitlines()]
            texts = [text for text in texts if text]
            columns[role] = texts[0] if len(texts) == 1 else texts
        # Blank entries come from unfilled form fields: they mean "detect this one".
    return columns


def _unknown_roles_message(unknown: list[str]) -> str:
    return f"unknown column role(s): {', '.join(unknown)}; the roles are {', '.join(ROLES)}"


def _decimal_separator(value: Any) -> str | None:
    if _blank(value):
        return None
    key = str(value).strip().lower()
    if key not in DECIMAL_SEPARATORS:
        raise ValueError("decimal_separator must be '.' (point) or ',' (comma)")
    return DECIMAL_SEPARATORS[key]


def _date_format(value: Any) -> str | None:
    if _blank(value):
        return None
    problem = date_format_problem(str(value).strip())
    if problem:
        raise ValueError(problem)
    return str(value).strip()


def _charges_negative(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text not in _TRUE | _FALSE:
        raise ValueError("charges_negative must be true or false")
    return text in _TRUE


def _unassigned_employee_id(value: Any) -> str:
    if _blank(value):
        return ""
    if not isinstance(value, str):
        raise ValueError("unassigned_employee_id must be text, e.g. UNASSIGNED")
    text = value.strip()
    if len(text) > FIELD_LENGTHS["employee_id"]:
        raise ValueError(
            f"unassigned_employee_id is longer than {FIELD_LENGTHS['employee_id']} characters"
        )
    return text


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "delimiter": _delimiter,
    "encoding": _encoding,
    "skip_lines": _skip_lines,
    "columns": _columns,
    "decimal_separator": _decimal_separator,
    "date_format": _date_format,
    "charges_negative": _charges_negative,
    "unassigned_employee_id": _unassigned_employee_id,
}
