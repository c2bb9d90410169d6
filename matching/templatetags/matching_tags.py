"""What the session and employee pages of sessions_app show of line matching, read
through matching.selectors (those pages' views do not know about matching)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import template

from matching.selectors import EmployeeLines, employee_lines, unmatched_charge_figures
from sessions_app.models import ProcessingSession

register = template.Library()


@register.simple_tag
def employee_lines_of(session: ProcessingSession, employee_id: str) -> EmployeeLines:
    return employee_lines(session=session, employee_id=employee_id)


@register.simple_tag
def unmatched_charges_of(
    session: ProcessingSession, rows: Iterable[Any]
) -> dict[str, tuple[int, Decimal]]:
    """Number and amount of unmatched charges of the employees shown (one query a page)."""
    return unmatched_charge_figures(session=session, employee_ids=[r.employee_id for r in rows])


@register.filter
def unmatched_count(figures: dict[str, tuple[int, Decimal]], employee_id: str) -> int:
    return figures.get(employee_id, (0, Decimal(0)))[0]
