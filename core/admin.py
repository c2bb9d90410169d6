"""What every ModelAdmin of the project shares."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.options import IncorrectLookupParameters
from django.db import DataError
from django.http import HttpRequest


class SafeLookupsMixin:
    """A changelist whose filters or date drill-down name an impossible value (year
    99999, an id past 64 bits) is the admin's "invalid lookup" redirect, not a 500:
    Django lets these through until the count query runs."""

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        try:
            return super().get_changelist_instance(request)  # type: ignore[misc]
        except (ValueError, OverflowError, DataError) as exc:
            raise IncorrectLookupParameters(exc) from exc
