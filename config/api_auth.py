"""Token authentication that slows down token guessing (SPEC §9).

Every failed token check from a client counts in the cache for a window; past the
limit the client gets 429 with Retry-After until the window ends, even with a valid
token, so a guesser cannot tell a hit from the throttle. A successful check does not
reset the count. With REDIS_URL set the count is shared by every web process; with
the per-process memory cache each process counts on its own."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.request import Request

from audit.middleware import client_ip

CACHE_PREFIX = "closebook:bad-token:"


def _key(request: Request) -> str:
    return f"{CACHE_PREFIX}{client_ip(request) or 'unknown'}"


def _window() -> int:
    return int(settings.API_BAD_TOKEN_WINDOW_SECONDS)


def _failures(request: Request) -> tuple[int, float]:
    count, started = cache.get(_key(request), (0, time.time()))
    return count, started


def _wait_seconds(started: float) -> int:
    return max(1, int(started + _window() - time.time()) + 1)


class ThrottledTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Request) -> Any:
        if not _has_token_header(request):
            return super().authenticate(request)
        count, started = _failures(request)
        if count >= settings.API_BAD_TOKEN_LIMIT:
            raise exceptions.Throttled(wait=_wait_seconds(started))
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            self._count_failure(request, count, started)
            raise

    def _count_failure(self, request: Request, count: int, started: float) -> None:
        if count == 0:
            started = time.time()
        remaining = max(1, int(started + _window() - time.time()))
        cache.set(_key(request), (count + 1, started), timeout=remaining)


def _has_token_header(request: Request) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    return header.split(" ", 1)[0].lower() == "token"
