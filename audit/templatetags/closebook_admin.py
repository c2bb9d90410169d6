"""Small lookups the admin's intermediate pages need."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter(name="item")
def item(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key, "") if mapping else ""
