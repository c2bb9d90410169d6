"""Request ids: honour an incoming X-Request-ID, make one otherwise, and carry it
into the response header, log records and audit events."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.context import RequestOrigin, current_origin, request_origin

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _request_id_for(request: HttpRequest) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    # A client-supplied id ends up in logs: accept only a short, plain token.
    if _SAFE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origin = RequestOrigin(request_id=_request_id_for(request), ip_address=client_ip(request))
        request.request_id = origin.request_id  # type: ignore[attr-defined]
        with request_origin(origin):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = origin.request_id
        return response


class RequestIdLogFilter(logging.Filter):
    """For handlers configured in LOGGING; records made after install_request_id_records()
    already carry the id of the request they were logged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs 4xx/5xx answers after the middleware has returned, passing the
        # request along: its id is the right one there.
        request_id = getattr(getattr(record, "request", None), "request_id", None)
        if request_id:
            record.request_id = request_id
        elif getattr(record, "request_id", "-") == "-":
            record.request_id = current_origin().request_id or "-"
        return True


def install_request_id_records() -> None:
    """Stamp every log record with the request id when it is CREATED, so any handler
    (pytest's caplog, a queue handler writing later from another thread, Sentry) sees the
    id of the request that logged it, not whatever request is running when it is written."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "closebook_request_id", False):
        return  # already installed (ready() can run twice in some test setups)

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current_origin().request_id or "-"
        return record

    factory.closebook_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
