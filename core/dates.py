"""The calendar range a date typed into a filter or a form may take.

Python dates run from year 1 to 9999, but a filter at either end overflows as soon as
it becomes a local midnight or gains a day (`9999-12-31 + 1 day`). Every date that
comes from a request is validated against this one range instead: out of it is a
validation error (400 on the API, a form error on pages), never a 500."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError

EARLIEST_DATE = datetime.date(1900, 1, 1)
LATEST_DATE = datetime.date(2999, 12, 31)


def validate_calendar_date(value: datetime.date | datetime.datetime | None) -> None:
    if value is None:
        return
    day = value.date() if isinstance(value, datetime.datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValidationError(
            "Enter a date between %(earliest)s and %(latest)s.",
            code="date_out_of_range",
            params={"earliest": EARLIEST_DATE.isoformat(), "latest": LATEST_DATE.isoformat()},
        )
