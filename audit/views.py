"""Audit pages for operators and viewers of an engagement (HTMX, readable without JS),
and the analytics page. Every view checks access first through the one helper per object;
anyone outside the engagement gets a 404."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit import analytics as figures
from audit.charts import bar_chart
from audit.csv import csv_response
from audit.forms import AsOfForm, AuditLogFilterForm, DateRangeForm
from audit.selectors import (
    activity_events_for_engagement,
    revision_history,
    session_as_of,
    session_timeline,
)
from sessions_app.access import get_engagement_for, get_session_for
from sessions_app.models import EmployeeRevision

AUDIT_LOG_PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 100


def _render(request: HttpRequest, template: str, partial: str, context: dict[str, Any]) -> Any:
    """The whole page, or only the named fragment when htmx asks for it."""
    name = f"{template}#{partial}" if request.htmx else template  # type: ignore[attr-defined]
    return render(request, name, context)


# --- Engagement audit log -------------------------------------------------------------------


@login_required
@require_GET
def engagement_log(request: HttpRequest, slug: str) -> HttpResponse:
    engagement = get_engagement_for(request.user, slug)
    form = AuditLogFilterForm(request.GET or None, engagement=engagement)
    events = activity_events_for_engagement(engagement, form.filters())
    page = Paginator(events, AUDIT_LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"engagement": engagement, "form": form, "page": page, "query": query.urlencode()}
    return _render(request, "audit/engagement_log.html", "results", context)


AUDIT_LOG_CSV_HEADER = [
    "occurred_at",
    "actor",
    "verb",
    "what",
    "session",
    "message",
    "request_id",
    "ip_address",
    "details",
]


@login_required
@require_GET
def engagement_log_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """The rows the filters select, all of them (not one page)."""
    engagement = get_engagement_for(request.user, slug)
    form = AuditLogFilterForm(request.GET or None, engagement=engagement)
    events = activity_events_for_engagement(engagement, form.filters())
    rows = (
        [
            event.occurred_at.isoformat(),
            event.actor_label,
            event.verb,
            event.get_verb_display(),
            event.session.name if event.session else "",
            event.message,
            event.request_id,
            event.ip_address or "",
            json.dumps(event.details, sort_keys=True, default=str),
        ]
        for event in events.iterator(chunk_size=2000)
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return csv_response(f"audit-{engagement.slug}-{stamp}.csv", AUDIT_LOG_CSV_HEADER, rows)


# --- Session timeline and "as of" ------------------------------------------------------------


@login_required
@require_GET
def session_timeline_page(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk)
    page = Paginator(session_timeline(session), TIMELINE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"session": session, "page": page, "timeline_id": f"timeline-{session.pk}"}
    return _render(request, "audit/session_timeline.html", "timeline", context)


@login_required
@require_GET
def session_as_of_page(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk)
    form = AsOfForm(request.GET or None)
    snapshot = session_as_of(session, form.cleaned_data["at"]) if form.is_valid() else None
    context = {"session": session, "form": form, "snapshot": snapshot}
    return _render(request, "audit/session_as_of.html", "snapshot", context)


@login_required
@require_GET
def revision_history_page(request: HttpRequest, pk: int, employee_id: str) -> HttpResponse:
    session = get_session_for(request.user, pk)
    revision = EmployeeRevision.objects.filter(session=session, employee_id=employee_id).first()
    if revision is None:
        raise Http404("No such employee in this session.")
    steps = revision_history(revision)
    context = {"session": session, "revision": revision, "steps": list(reversed(steps))}
    return _render(request, "audit/revision_history.html", "history", context)


# --- Analytics ----------------------------------------------------------------------------------


def _analytics_for(request: HttpRequest) -> tuple[DateRangeForm, figures.SessionAnalytics]:
    engagements = figures.analytics_engagements_for(request.user)
    if engagements is None:
        raise PermissionDenied("Analytics are for operators of an engagement and for staff.")
    slug = request.GET.get("engagement", "")
    if slug:
        engagements = engagements.filter(pk=get_engagement_for(request.user, slug).pk)
    form = DateRangeForm(request.GET or None)
    valid = form.is_valid()
    data = form.cleaned_data if valid else {}
    return form, figures.session_analytics(
        engagements=engagements, date_from=data.get("date_from"), date_to=data.get("date_to")
    )


def _charts(result: figures.SessionAnalytics) -> list[Any]:
    return [
        bar_chart(
            title="Sessions by status",
            chart_id="chart-status",
            items=[(row["label"], row["count"]) for row in result.sessions_by_status],
        ),
        bar_chart(
            title="Amount exported to pVault per week",
            chart_id="chart-exports",
            items=[
                (f"{row['week_start']:%b %d}", row["amount_exported"])
                for row in result.exports_per_week
            ],
        ),
        bar_chart(
            title="Exception rate per session",
            chart_id="chart-exceptions",
            items=[
                (row["session"][:18], row["rate_percent"])
                for row in result.exception_rate["sessions"]
            ],
            unit="%",
        ),
        bar_chart(
            title="Events per person",
            chart_id="chart-activity",
            items=[(row["username"], row["events"]) for row in result.operator_activity],
        ),
    ]


@login_required
@require_GET
def analytics_page(request: HttpRequest) -> HttpResponse:
    form, result = _analytics_for(request)
    query = request.GET.urlencode()
    context = {"form": form, "result": result, "charts": _charts(result), "query": query}
    return _render(request, "audit/analytics.html", "figures", context)


@login_required
@require_GET
def analytics_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in figures.CSV_TABLES:
        raise Http404("No such table.")
    _, result = _analytics_for(request)
    header, rows = figures.CSV_TABLES[table](result)
    return csv_response(f"closebook-{table}.csv", header, rows)
