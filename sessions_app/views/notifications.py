"""The user's notifications (job finished / failed): a list page and mark-as-read.

Marking a notification read is the user's own bookkeeping, not a domain operation, so it
writes no activity event."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit.models import Notification
from audit.services import notification_mark_read, notifications_mark_all_read
from core.htmx import HtmxHttpRequest, htmx_fragment

TEMPLATE = "sessions_app/notification_list.html"
PER_PAGE = 50


def _list_context(request: HtmxHttpRequest) -> dict[str, Any]:
    user: Any = request.user
    notifications = Notification.objects.filter(user=user).order_by("-created_at", "-id")
    page = Paginator(notifications, PER_PAGE).get_page(request.GET.get("page"))
    return {"page": page}


@login_required
@require_GET
def notification_list(request: HtmxHttpRequest) -> HttpResponse:
    fragment = htmx_fragment(request, ["notifications"])
    template = f"{TEMPLATE}#{fragment}" if fragment else TEMPLATE
    return render(request, template, _list_context(request))


@login_required
@require_POST
def notification_read(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Another user's notification is simply not found.
    notification = get_object_or_404(Notification, pk=pk, user=request.user)
    notification_mark_read(notification=notification)
    if request.htmx:
        return render(request, f"{TEMPLATE}#notification", {"notification": notification})
    return redirect("sessions_app:notification_list")


@login_required
@require_POST
def notification_read_all(request: HtmxHttpRequest) -> HttpResponse:
    notifications_mark_all_read(user=request.user)
    if request.htmx:
        return render(request, f"{TEMPLATE}#notifications", _list_context(request))
    return redirect("sessions_app:notification_list")
