"""`{% load when %}` then `{% ago moment %}`: "3 minutes ago" in a <time> element that also
carries the absolute moment with its time zone (as its title, and as ISO 8601 in datetime)."""

from __future__ import annotations

import datetime

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


def absolute_moment(value: datetime.datetime) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M %Z}"


@register.simple_tag(name="ago")
def ago_tag(value: datetime.datetime | None) -> SafeString | str:
    if value is None:
        return ""
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        absolute_moment(value),
        naturaltime(value),
    )
