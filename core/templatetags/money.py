"""`{% load money %}` then `{{ amount|money }}` or `{{ amount|money:session.currency }}`."""

from __future__ import annotations

from typing import Any

from django import template

from core.money import format_money

register = template.Library()


@register.filter(name="money")
def money_filter(value: Any, currency: str | None = None) -> str:
    return format_money(value, currency or None)
