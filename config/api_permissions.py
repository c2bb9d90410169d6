"""The API's shared policies, importable from here as before: they live in `core.api`, and
`session_for` in `sessions_app.access`."""

from core.api import (
    ApiMetadata,
    ApiPagination,
    BodySizeLimit,
    FirstRendererNegotiation,
    LimitedFormParser,
    LimitedJSONParser,
    not_found_as,
    ordering_from,
    ordering_parameter,
    validated,
)
from sessions_app.access import session_for

__all__ = [
    "ApiMetadata",
    "ApiPagination",
    "BodySizeLimit",
    "FirstRendererNegotiation",
    "LimitedFormParser",
    "LimitedJSONParser",
    "not_found_as",
    "ordering_from",
    "ordering_parameter",
    "session_for",
    "validated",
]
