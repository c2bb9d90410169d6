"""Chasing pieces other apps' pages show: the money format, an employee's receipt requests,
links to the weekly report preview."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from chasing import formatting
from chasing.selectors import receipt_requests_for
from sessions_app.access import engagements_for_user

register = template.Library()


@register.filter
def money(value: Decimal | None) -> str:
    return formatting.money(value)


@register.inclusion_tag("chasing/_request_table.html")
def receipt_request_table(requests: Any) -> dict[str, Any]:
    return {"requests": requests}


@register.inclusion_tag("chasing/_employee_requests.html")
def employee_receipt_requests(session: Any, employee_id: str) -> dict[str, Any]:
    return {
        "session": session,
        "requests": list(receipt_requests_for(session, employee_id=employee_id)),
    }


@register.inclusion_tag("chasing/_weekly_report_links.html")
def weekly_report_links(user: Any) -> dict[str, Any]:
    return {"engagements": list(engagements_for_user(user).order_by("name"))}
