"""A last record without a line break, cut inside its last cell (SPEC §4): `12.3` of
`12.34`, `2024-10-3` of `2024-10-31`, `1,234` of `1,234.56`. Its cells are compared with
the shapes of the same column in the rows before it.

A shape keeps every digit run by its length and collapses every letter run:
`1,234.56` -> `9,999.99`, `E1042` -> `a9999`, `Hotel Paris` -> `a a`. A column is
structured (amounts, dates, ids) when its cells take few shapes; a cut there leaves a shape
never seen before that is the beginning of one seen (a value cut short). Free-text columns,
of many shapes, are left alone: a cut there loses no money. Summary labels ("Subtotal")
are no values of their column. The amount column also refuses
an amount with fewer decimals than every other amount of the column, and an empty amount
where every line above had one."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .keyless import LABEL_INITIALS, TOTAL_LABEL
from .reader import Record, cell_text

_DIGIT_RUN = re.compile(r"\d+")
_LETTER_RUN = re.compile(r"[^\W\d_]+")
# A column is structured when it takes at most this many shapes, and on average every
# shape is seen on STRUCTURED_ROWS_PER_SHAPE rows (two shapes always pass: `E9`/`E99`).
MAX_STRUCTURED_SHAPES = 6
STRUCTURED_ROWS_PER_SHAPE = 4
# The last cell is compared with this many lines above it: enough to know a column's
# shapes, and a file of half a million lines is not shaped again whole.
COMPARED_LINES = 5000


def shape(text: str) -> str:
    """`1,234.56` -> `9,999.99`; `2026-10-31` -> `9999-99-99`; `Ann Lee` -> `a a`."""
    digits = _DIGIT_RUN.sub(lambda run: "9" * len(run.group()), text.strip())
    return _LETTER_RUN.sub("a", digits)


def decimals(text: str, separator: str) -> int:
    """Digits after the decimal separator (0 without one)."""
    _, found, after = text.strip().rpartition(separator)
    run = _DIGIT_RUN.match(after) if found else None
    return len(run.group()) if run else 0


def _is_label(text: str) -> bool:
    """A summary row's label ("Subtotal", "Grand total") is no value of its column."""
    text = text.strip()
    return text[0] in LABEL_INITIALS and TOTAL_LABEL.fullmatch(text.lower()) is not None


@dataclass
class ColumnShapes:
    """The shapes one column's cells took, with the first value of each."""

    examples: dict[str, str] = field(default_factory=dict)
    cells: int = 0
    empty: bool = False
    free_text: bool = False

    def add(self, text: str) -> None:
        if not text.strip():
            self.empty = True
            return
        self.cells += 1
        if self.free_text or _is_label(text):
            return
        self.examples.setdefault(shape(text), text)
        if len(self.examples) > MAX_STRUCTURED_SHAPES:
            self.free_text = True
            self.examples.clear()

    @property
    def structured(self) -> bool:
        shapes = len(self.examples)
        if self.free_text or not shapes:
            return False
        return shapes <= 2 or shapes * STRUCTURED_ROWS_PER_SHAPE <= self.cells

    def cut_from(self, text: str) -> str | None:
        """The value `text` looks cut from (an example), or None when it looks whole."""
        if not self.structured:
            return None
        if not text.strip():
            return None if self.empty else next(iter(self.examples.values()))
        seen = shape(text)
        if seen in self.examples:
            return None
        longer = [example for known, example in self.examples.items() if known.startswith(seen)]
        return longer[0] if longer else None


@dataclass(frozen=True)
class CutCell:
    column: str
    text: str
    expected: str


def cut_last_cell(
    body: Iterable[Record],
    tail_line: int,
    headers: tuple[str, ...],
    amount_column: int | None,
    separator: str,
) -> CutCell | None:
    """The cell of the record on `tail_line` that looks cut short, compared with the rows
    of `body` (data records after the header) on the COMPARED_LINES lines above it."""
    columns = [ColumnShapes() for _ in headers]
    fewest_decimals: int | None = None
    tail: list[str] | None = None
    first_line = tail_line - COMPARED_LINES
    for line, cells in body:
        if line < first_line:
            continue
        texts = [cell_text(cell) for cell in cells]
        if line == tail_line:
            tail = texts
            break
        if not any(text.strip() for text in texts):
            continue
        for column, text in zip(columns, texts, strict=False):
            column.add(text)
        if amount_column is not None and amount_column < len(texts):
            amount = texts[amount_column]
            if any(char.isdigit() for char in amount):
                places = decimals(amount, separator)
                if fewest_decimals is None or places < fewest_decimals:
                    fewest_decimals = places
    if not tail or len(tail) > len(headers):
        return None
    position, text = len(tail) - 1, tail[-1]  # only the last cell can be cut short
    header = headers[position] or f"column {position + 1}"
    is_amount = position == amount_column and fewest_decimals is not None and bool(text.strip())
    if is_amount and decimals(text, separator) < (fewest_decimals or 0):
        expected = f"an amount with {fewest_decimals} decimals like the other lines"
        return CutCell(header, text, expected)
    if position == amount_column and not text.strip() and not columns[position].empty:
        # Every line above had an amount: a last line whose amount is empty was cut there.
        return CutCell(header, text, "an amount, as on every line before")
    example = columns[position].cut_from(text)
    if example is None:
        return None
    return CutCell(header, text, f"a value like {example!r} as on the lines before")
