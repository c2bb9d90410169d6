"""The htmx toolkit every app's pages share: which partial a request asks for, how a
refused action answers, dialogs that work with and without JavaScript."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from core.errors import DomainError


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware (typing only)."""

    htmx: HtmxDetails


def htmx_fragment(request: HtmxHttpRequest, names: Iterable[str]) -> str | None:
    """The partial an htmx request asks for (its target's id), or None for a whole page."""
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.history_restore_request:
        return None
    return htmx.target if htmx.target in set(names) else None


def came_from(request: HtmxHttpRequest, url: str) -> bool:
    """Whether an htmx request was sent by the page at `url` (its fragments are there)."""
    return bool(request.htmx) and urlsplit(request.htmx.current_url or "").path == url


def domain_status(error: DomainError) -> int:
    # A refused input is 422, so htmx swaps the explanation in like a form error.
    return 422 if error.http_status == 400 else error.http_status


def redirect_or_client_redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def dialog_response(
    request: HtmxHttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    form: str,
    status: int = 200,
) -> HttpResponse:
    """A dialog's content: inside a <dialog> for an htmx GET, the form alone for an htmx
    POST, the whole page without JavaScript."""
    if request.htmx and not request.htmx.history_restore_request:
        partial = "dialog" if request.method == "GET" else form
        return render(request, f"{template}#{partial}", context, status=status)
    return render(request, template, context, status=status)
