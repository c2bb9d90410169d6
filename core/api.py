"""The API's shared policies: how lists page and sort, how content is negotiated.

Who may see or change an object is decided by the per-object access selectors of each app
(`get_session_for`, `get_engagement_for`, ...), called at the top of each view and wrapped
in `not_found_as`; staff-only endpoints use DRF's IsAdminUser."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.metadata import SimpleMetadata
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.request import Request
from rest_framework.serializers import Serializer


class ApiPagination(PageNumberPagination):
    """`{count, next, previous, results}`; scripts may ask for up to 500 rows a page."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class FirstRendererNegotiation(BaseContentNegotiation):
    """For endpoints whose success is a file or an event stream: their answer does not
    depend on the Accept header, and their errors are always JSON."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return (renderers[0], renderers[0].media_type)


def ordering_from(request: Request, allowed: Sequence[str], default: Sequence[str]) -> list[str]:
    """`?ordering=field,-other` restricted to the listed fields; a tiebreaker keeps pages
    stable. Anything else is a 400 naming the fields that may be used."""
    raw = request.query_params.get("ordering", "")
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    unknown = [key for key in keys if key.lstrip("-") not in allowed]
    if unknown:
        raise ValidationError(
            {
                "ordering": [
                    f"Cannot order by {', '.join(unknown)}; use {', '.join(allowed)} "
                    "(prefix - for descending)."
                ]
            }
        )
    return [*(keys or default), "pk"]


def ordering_parameter(allowed: Sequence[str], default: str) -> OpenApiParameter:
    return OpenApiParameter(
        "ordering",
        str,
        enum=[prefix + field for field in allowed for prefix in ("", "-")],
        description=f"Sort by a field, '-' for descending (default {default}). Several "
        "fields may be given, separated by commas.",
    )


def validated(serializer_class: type[Serializer], data: Any) -> dict[str, Any]:
    """Parse a request body or query string with an input serializer (400 if invalid)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@contextmanager
def not_found_as(message: str) -> Iterator[None]:
    """One 404 message whether the object does not exist or belongs to an engagement the
    caller is not in: the answer must not tell the two apart."""
    try:
        yield
    except Http404:
        raise Http404(message) from None


class ApiMetadata(SimpleMetadata):
    """OPTIONS says what an endpoint renders and parses. Its fields are in /api/schema/;
    DRF's own field listing needs a view-wide serializer, which these views do not have."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        return {}


class BodySizeLimit:
    """DRF reads JSON and form bodies straight from the socket, past Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE check; this puts the same limit back (a 400, not memory)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if limit is not None and length and str(length).isdigit() and int(length) > limit:
            raise RequestDataTooBig("The request body is too large.")
        return super().parse(stream, media_type, parser_context)  # type: ignore[misc]


class LimitedJSONParser(BodySizeLimit, JSONParser):
    pass


class LimitedFormParser(BodySizeLimit, FormParser):
    pass
