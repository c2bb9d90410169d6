"""URL converters for identifiers that come from uploaded files.

Employee ids are whatever the bank or expense tool wrote: card numbers with `/`,
`%`, spaces, non-ASCII. Django's `str` converter stops at `/`, so every route
that carries an employee id uses the `employee_id` converter instead. It matches
non-greedily, so a route with a fixed suffix (`.../employees/<id>/lines/`) still
finds its suffix; `reverse()` percent-encodes everything except `/`, which the
converter accepts as part of the id.
"""

from __future__ import annotations

from django.urls import register_converter


class EmployeeIdConverter:
    regex = r"[\s\S]+?"  # any character, a line break included

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(EmployeeIdConverter, "employee_id")
