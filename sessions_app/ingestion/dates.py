"""Dates in statement files: one format per column, detected or given by a profile."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable

ISO_PATTERN = "%Y-%m-%d"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Tried in this order; the first that reads EVERY date of the whole column wins, so a
# column holding 10/02/2026 and 13/02/2026 is read day-first while a US file stays
# month-first. Each of `/`, `-` and `.` is tried day-first and month-first (`10-31-2026`).
DEFAULT_DATE_FORMATS: tuple[str, ...] = (
    ISO_PATTERN,
    "%m/%d/%Y",
    "%m/%d/%y",
    "%d/%m/%Y",
    "%d/%m/%y",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%m.%d.%Y",
    "%m.%d.%y",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d-%m-%Y",
    "%d-%m-%y",
    "%m-%d-%Y",
    "%m-%d-%y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%Y%m%d",
)

# Exports often append a time ("2026-10-02 14:31:00", "2026-10-02T14:31:00Z"); the
# statement period is a matter of days, so the time is dropped.
_TIME_SUFFIX = re.compile(
    r"[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?\s*(?:[AaPp][Mm])?\s*(?:Z|[+-]\d{2}:?\d{2})?$"
)
# Spreadsheet-style tokens accepted in profiles ("dd/mm/yy"); longest tokens first.
_TOKENS = re.compile(r"yyyy|yy|mmmm|mmm|mon|mm|dd|m|d", re.IGNORECASE)
_TOKEN_DIRECTIVES = {
    "yyyy": "%Y",
    "yy": "%y",
    "mmmm": "%B",
    "mmm": "%b",
    "mon": "%b",
    "mm": "%m",
    "m": "%m",
    "dd": "%d",
    "d": "%d",
}
_SAMPLE_DATE = datetime.date(2026, 10, 31)


def to_strptime(date_format: str) -> str:
    """A profile's date format as a strptime pattern; `%` patterns pass through unchanged."""
    if "%" in date_format:
        return date_format
    return _TOKENS.sub(lambda match: _TOKEN_DIRECTIVES[match.group().lower()], date_format)


def date_format_problem(date_format: str) -> str | None:
    """Why a profile's date format cannot work, or None. It must round-trip a full date."""
    pattern = to_strptime(date_format)
    try:
        written = _SAMPLE_DATE.strftime(pattern)
        understood = datetime.datetime.strptime(written, pattern).date()
    except ValueError:
        understood = None
    if understood != _SAMPLE_DATE:
        return (
            f"date format {date_format!r} is not understood; "
            "write it like dd/mm/yyyy, mm/dd/yy, dd-mon-yyyy or %d/%m/%Y"
        )
    return None


def example_date(pattern: str) -> str:
    """How 31 Oct 2026 looks in `pattern`, for error messages."""
    return _SAMPLE_DATE.strftime(pattern)


def parse_date(text: str, pattern: str) -> datetime.date | None:
    """The date in `text` read with `pattern`, or None when it does not fit."""
    text = text.strip()
    if pattern == ISO_PATTERN and _ISO_DATE.fullmatch(text):
        # strptime reads these texts exactly as fromisoformat does, only many times slower.
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            return None
    for candidate in (text, _TIME_SUFFIX.sub("", text)):
        try:
            return datetime.datetime.strptime(candidate, pattern).date()
        except ValueError:
            continue
    return None


def detect_date_format(texts: Iterable[str]) -> str | None:
    """The first default format reading every text; else the one reading most (the
    others become row errors). None when there is no text date at all."""
    # A statement repeats the same few dozen dates; checking each once keeps big files fast.
    values = list(dict.fromkeys(text.strip() for text in texts if text.strip()))
    if not values:
        return None
    for pattern in DEFAULT_DATE_FORMATS:
        if all(parse_date(text, pattern) is not None for text in values):
            return pattern
    return max(DEFAULT_DATE_FORMATS, key=lambda pattern: _readable_count(values, pattern))


def _readable_count(values: list[str], pattern: str) -> int:
    return sum(1 for text in values if parse_date(text, pattern) is not None)


class DateFormatChooser:
    """`detect_date_format` for a column read one row at a time, without keeping its rows:
    it is told each distinct text once and tracks the first default format reading every
    text so far. A format that fails one text fails the column, so the tracked format only
    ever moves forward, and a text that decides late (a day above 12 on the last line)
    still decides for the whole column."""

    def __init__(self) -> None:
        self._values: list[str] = []
        self._candidate = 0  # every format before it fails some text

    def add(self, text: str, pattern: str | None, parsed: datetime.date | None) -> None:
        """A new distinct stripped text, already read with `pattern` (giving `parsed`)."""
        formats = DEFAULT_DATE_FORMATS
        while self._candidate < len(formats):
            candidate = formats[self._candidate]
            reading = parsed if candidate == pattern else parse_date(text, candidate)
            if reading is not None:
                break
            self._candidate += 1
            self._skip_formats_failing_earlier_texts()
        self._values.append(text)

    def _skip_formats_failing_earlier_texts(self) -> None:
        formats = DEFAULT_DATE_FORMATS
        while self._candidate < len(formats) and not all(
            parse_date(value, formats[self._candidate]) is not None for value in self._values
        ):
            self._candidate += 1

    def result(self) -> str | None:
        """The format `detect_date_format` gives for every text added."""
        if not self._values:
            return None
        if self._candidate < len(DEFAULT_DATE_FORMATS):
            return DEFAULT_DATE_FORMATS[self._candidate]
        return max(DEFAULT_DATE_FORMATS, key=lambda pattern: _readable_count(self._values, pattern))
