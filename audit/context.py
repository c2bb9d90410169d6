"""Where the current request came from, for audit events and log lines.

Set by the request middleware for pages and API calls; jobs and commands run with
the defaults (no request id, no IP) unless they set their own.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestOrigin:
    request_id: str = ""
    ip_address: str | None = None


_current_origin: contextvars.ContextVar[RequestOrigin] = contextvars.ContextVar(
    "closebook_request_origin",
    default=RequestOrigin(),  # noqa: B039  (frozen: never mutated)
)


def current_origin() -> RequestOrigin:
    return _current_origin.get()


@contextmanager
def request_origin(origin: RequestOrigin) -> Iterator[None]:
    token = _current_origin.set(origin)
    try:
        yield
    finally:
        _current_origin.reset(token)
