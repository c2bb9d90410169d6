"""Where each role sits in a file's rows (the layout the header gave), read by the row
reader and the summary-row rules alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .keyless import person
from .reader import Cell, RawRow


@dataclass(frozen=True)
class Layout:
    """Where each role sits in the rows, its header as written in the file, every header,
    and the unmapped columns that show a row is a charge."""

    index: Mapping[str, int]
    headers: Mapping[str, str]
    all_headers: tuple[str, ...] = ()
    evidence: tuple[int, ...] = ()

    @property
    def width(self) -> int:
        """Cells a full row has: the header's, without empty ones at its end."""
        width = len(self.all_headers)
        while width and not self.all_headers[width - 1]:
            width -= 1
        return width

    def cell(self, row: RawRow, role: str) -> Cell:
        position = self.index.get(role)
        if position is None or position >= len(row.cells):
            return ""
        return row.cells[position]

    def text(self, row: RawRow, role: str) -> str:
        position = self.index.get(role)
        if position is None or position >= len(row.texts):
            return ""
        return row.texts[position]

    def names_someone(self, row: RawRow) -> bool:
        return bool(
            person(self.text(row, "employee_id")) or person(self.text(row, "employee_name"))
        )
