"""Operator pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from sessions_app.selectors import session_list_for_user


@login_required
@require_GET
def session_list(request: HttpRequest) -> HttpResponse:
    sessions = session_list_for_user(
        request.user,
        status=request.GET.get("status", ""),
        search=request.GET.get("q", "").strip(),
    )
    return render(request, "sessions_app/session_list.html", {"sessions": sessions})
