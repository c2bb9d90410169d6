"""The session page and its live panels, and the helpers that answer with a panel (also used
by the recalc and exports pages)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from audit.models import ActivityEvent
from core.errors import DomainError
from core.htmx import (
    HtmxHttpRequest,
    came_from,
    domain_status,
    htmx_fragment,
)
from exports.selectors import (
    change_summary,
    export_history,
    session_proof,
)
from recalc.models import RecalcJob
from sessions_app.access import can_write
from sessions_app.forms import (
    EMPLOYEE_SORTS,
    EmployeeFilterForm,
)
from sessions_app.models import (
    ProcessingSession,
)
from sessions_app.selectors import (
    active_job_for,
    effective_receipt_version_numbers,
    employee_rows,
    get_session_for,
    with_session_figures,
)
from sessions_app.services import (
    card_replace_refusal,
)

DETAIL = "sessions_app/session_detail.html"
LIST = "sessions_app/session_list.html"
NEW = "sessions_app/session_new.html"
RECEIPTS = "sessions_app/receipts_upload.html"
CARD = "sessions_app/card_replace.html"
CLOSE = "sessions_app/session_close.html"
PROFILE = "sessions_app/import_profile_new.html"
EMPLOYEE = "sessions_app/employee_detail.html"
SESSIONS_PER_PAGE = 24
EMPLOYEES_PER_PAGE = 50
TIMELINE_EVENTS = 20
# Panels of the session page that refresh themselves when the session changes.
SESSION_CHANGED = "session-changed"


def session_url(session: ProcessingSession) -> str:
    return reverse("sessions_app:session_detail", args=[session.pk])


def after_job_changed(request: HtmxHttpRequest, session: ProcessingSession) -> HttpResponse:
    """After an action that starts or moves a job: the fresh job panel on the session page
    (closing any dialog, telling the other panels to refresh), the session page otherwise."""
    url = session_url(session)
    if not request.htmx:
        return redirect(url)
    if not came_from(request, url):
        return HttpResponseClientRedirect(url)
    session.refresh_from_db()
    context = {"session": session, "can_write": can_write(request.user, session)}
    context.update(_job_context(request, session))
    html = render_to_string(f"{DETAIL}#job-panel", context, request)
    html += render_to_string("base.html#modal-closed", {}, request)
    response = HttpResponse(html)
    retarget(response, "#job-panel")
    reswap(response, "outerHTML")
    return trigger_client_event(response, SESSION_CHANGED)


def action_failed(
    request: HtmxHttpRequest, session: ProcessingSession, error: DomainError, *, panel: str
) -> HttpResponse:
    """A refused button press: the panel again with the reason (htmx), or the session page
    with the reason as a message."""
    if not request.htmx:
        messages.error(request, error.message)
        return redirect(session_url(session))
    context = {"session": session, "can_write": can_write(request.user, session)}
    context.update(DETAIL_PANELS[panel](request, session))
    context["panel_error"] = error.message
    response = render(request, f"{DETAIL}#{panel}", context, status=domain_status(error))
    retarget(response, f"#{panel}")
    return reswap(response, "outerHTML")


# --- Session page and its panels ------------------------------------------------------------


@login_required
@require_GET
def session_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk)
    context: dict[str, Any] = {"session": session, "can_write": can_write(request.user, session)}
    fragment = htmx_fragment(request, DETAIL_PANELS)
    for name in [fragment] if fragment else DETAIL_PANELS:
        context.update(DETAIL_PANELS[name](request, session))
    response = render(request, f"{DETAIL}#{fragment}" if fragment else DETAIL, context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _header_context(request: HtmxHttpRequest, session: ProcessingSession) -> dict[str, Any]:
    return {
        "active_job": active_job_for(session),
        "card_replaceable": card_replace_refusal(session) is None,
    }


def _summary_context(request: HtmxHttpRequest, session: ProcessingSession) -> dict[str, Any]:
    figures: Any = with_session_figures(ProcessingSession.objects.filter(pk=session.pk)).get()
    changes = change_summary(session)
    return {
        "figures": figures,
        "exception_count": figures.employee_count - figures.matched_count,
        # An archived session's statement total comes from its sealed archive manifest.
        "proof": session_proof(session),
        "changes": changes,
        "delta_count": changes["new"] + changes["changed"],
    }


def _employees_context(request: HtmxHttpRequest, session: ProcessingSession) -> dict[str, Any]:
    filter_form = EmployeeFilterForm(request.GET, auto_id="employee-%s")
    filters = filter_form.filters()
    page = Paginator(_employee_rows(session, filters), EMPLOYEES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    query = {name: value for name, value in filters.items() if value and name != "sort"}
    return {
        "employee_filter": filter_form,
        "employee_filters": filters,
        "employee_page": page,
        "employee_columns": _employee_columns(query, filters["sort"]),
        "employee_sort_query": urlencode({**query, "sort": filters["sort"]}),
    }


def _employee_columns(query: dict[str, str], sort: str) -> list[dict[str, Any]]:
    """Sortable column headers: a click sorts by the column, a second click reverses."""
    columns = []
    for key, label in EMPLOYEE_SORTS.items():
        ascending, descending = sort == key, sort == f"-{key}"
        columns.append(
            {
                "label": label,
                "numeric": key in ("car_amount", "receipt_amount", "difference"),
                "query": urlencode({**query, "sort": f"-{key}" if ascending else key}),
                "aria_sort": "ascending" if ascending else "descending" if descending else "",
            }
        )
    return columns


def _employee_rows(session: ProcessingSession, filters: dict[str, str]) -> QuerySet[Any]:
    sort = filters["sort"].replace("change", "change_kind")
    tiebreak = "-employee_id" if sort.startswith("-") else "employee_id"
    return employee_rows(
        session,
        search=filters["q"],
        status=filters["status"],
        change=filters["change"],
        exported={"yes": True, "no": False}.get(filters["exported"]),
        ordering=[sort, tiebreak],
    )


def _versions_context(request: HtmxHttpRequest, session: ProcessingSession) -> dict[str, Any]:
    versions = session.receipt_versions.select_related("uploaded_by", "copied_from")
    return {
        "receipt_versions": versions.order_by("-version"),
        "versions_in_effect": set(effective_receipt_version_numbers(session)),
    }


def _exports_context(request: HtmxHttpRequest, session: ProcessingSession) -> dict[str, Any]:
    return {"export_batches": export_history(session)}


def _job_context(request: HtmxHttpRequest, session: ProcessingSession) -> dict[str, Any]:
    job = (
        RecalcJob.objects.filter(session=session)
        .select_related("receipt_version", "created_by")
        .order_by("-created_at", "-id")
        .first()
    )
    return {"job": job}


def _timeline_context(request: HtmxHttpRequest, session: ProcessingSession) -> dict[str, Any]:
    events = ActivityEvent.objects.filter(session=session).order_by("-occurred_at", "-id")
    return {"events": events[:TIMELINE_EVENTS]}


DETAIL_PANELS: dict[str, Callable[[HtmxHttpRequest, ProcessingSession], dict[str, Any]]] = {
    "session-header": _header_context,
    "session-summary": _summary_context,
    "job-panel": _job_context,
    "employees": _employees_context,
    "receipt-versions": _versions_context,
    "export-history": _exports_context,
    "timeline": _timeline_context,
}
