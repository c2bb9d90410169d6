"""Request and response guards every door shares.

- `RequestSanityMiddleware` refuses a NUL character in the path (404: nothing is named
  so) or the query string (400) before any view sees it: no database accepts one in a
  text parameter (PostgreSQL raises), so it can only be an attack or a broken client.
  In the API's format under /api/.
- `NoStoreMiddleware` marks what a shared cache or a browser's back button must not
  keep: every answer to a logged-in user, every API answer and every download.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import Http404, HttpRequest, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.utils.cache import patch_cache_control

from core.api_errors import ApiError, is_api_request, json_error_response, page_not_found

NUL = "\x00"


def _query_has_nul(request: HttpRequest) -> bool:
    return any(
        NUL in key or any(NUL in value for value in values) for key, values in request.GET.lists()
    )


def _refusal(request: HttpRequest) -> HttpResponseBase | None:
    if NUL in request.path:
        # Nothing is named with a NUL: the same answer as any unknown path.
        return page_not_found(request, Http404("No such page."))
    if not _query_has_nul(request):
        return None
    message = "The request contains a NUL character."
    if is_api_request(request):
        return json_error_response(ApiError("bad_request", 400, message))
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _needs_no_store(request: HttpRequest, response: HttpResponseBase) -> bool:
    if is_api_request(request):
        return True
    if response.get("Content-Disposition", "").startswith("attachment"):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


def _mark_no_store(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    if _needs_no_store(request, response):
        patch_cache_control(response, no_store=True, private=True)
    return response


class _SyncAndAsync:
    """A middleware usable on both the WSGI and the ASGI stack without a thread hop."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return response

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        refusal = self.before(request)
        if refusal is not None:
            return refusal
        return self.after(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        refusal = self.before(request)
        if refusal is not None:
            return refusal
        response = await self.get_response(request)  # type: ignore[misc]
        return self.after(request, response)


class RequestSanityMiddleware(_SyncAndAsync):
    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        return _refusal(request)


class NoStoreMiddleware(_SyncAndAsync):
    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return _mark_no_store(request, response)


__all__ = ["NoStoreMiddleware", "RequestSanityMiddleware"]
