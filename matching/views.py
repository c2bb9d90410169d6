"""Operator pages of line matching: the employee's pairs panel with match / unmatch (htmx),
and the session-wide "Unmatched charges" page (the chase list, with CSV)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError
from core.htmx import domain_status
from matching.apis import chase_csv
from matching.forms import ChaseFilterForm, LinesMatchForm, LinesUnmatchForm
from matching.selectors import (
    CHASE_ORDERING,
    chase_list,
    employee_lines,
)
from matching.services import lines_match, lines_unmatch
from sessions_app.access import can_write, get_revision_for, get_session_for
from sessions_app.models import EmployeeRevision, ProcessingSession

LINES = "matching/_lines.html"
CHASE = "matching/unmatched_charges.html"
CHARGES_PER_PAGE = 50
CHASE_COLUMNS = {
    "employee_id": "Employee",
    "employee_name": "Name",
    "date": "Date",
    "merchant": "Merchant",
    "amount": "Amount",
}


def _revision_of(session: ProcessingSession, employee_id: str) -> EmployeeRevision:
    return get_revision_for(session, employee_id)


def _employee_url(session: ProcessingSession, employee_id: str) -> str:
    return reverse("sessions_app:employee_detail", args=[session.pk, employee_id])


def _lines_context(
    request: HttpRequest, session: ProcessingSession, revision: EmployeeRevision
) -> dict[str, Any]:
    return {
        "session": session,
        "revision": revision,
        "can_write": can_write(request.user, session),
        "lines": employee_lines(session=session, employee_id=revision.employee_id),
    }


@login_required
@require_GET
def employee_lines_panel(request: HttpRequest, pk: int, employee_id: str) -> HttpResponse:
    """The pairs panel alone (htmx); a browser without htmx reads it on the employee page."""
    session = get_session_for(request.user, pk)
    revision = _revision_of(session, employee_id)
    if not getattr(request, "htmx", False):
        return redirect(_employee_url(session, employee_id) + "#employee-lines")
    return render(request, LINES, _lines_context(request, session, revision))


@login_required
@require_POST
def lines_match_view(request: HttpRequest, pk: int, employee_id: str) -> HttpResponse:
    session = get_session_for(request.user, pk, write=True)
    revision = _revision_of(session, employee_id)
    form = LinesMatchForm(request.POST)

    def match(data: dict[str, Any]) -> Any:
        return lines_match(
            session=session,
            employee_id=employee_id,
            card_line_id=data["card_line"],
            receipt_line_id=data["receipt_line"],
            note=data["note"],
            actor=request.user,
            expected_version=data["version"],
        )

    return _decision_answer(request, session, revision, form, match, done="Lines matched.")


@login_required
@require_POST
def lines_unmatch_view(request: HttpRequest, pk: int, employee_id: str) -> HttpResponse:
    session = get_session_for(request.user, pk, write=True)
    revision = _revision_of(session, employee_id)
    form = LinesUnmatchForm(request.POST)

    def unmatch(data: dict[str, Any]) -> Any:
        return lines_unmatch(
            session=session,
            employee_id=employee_id,
            card_line_id=data["card_line"],
            note=data["note"],
            actor=request.user,
            expected_version=data["version"],
        )

    return _decision_answer(request, session, revision, form, unmatch, done="Pair undone.")


def _decision_answer(
    request: HttpRequest,
    session: ProcessingSession,
    revision: EmployeeRevision,
    form: Any,
    decide: Any,
    *,
    done: str,
) -> HttpResponse:
    """One answer for match and unmatch: the fresh panel (htmx) or a redirect with a
    message; a refusal shows its reason in the panel."""
    error, status = "", 200
    if not form.is_valid():
        error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        status = 422
    else:
        try:
            decide(form.cleaned_data)
        except DomainError as refused:
            error, status = refused.message, domain_status(refused)
    if not getattr(request, "htmx", False):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, done)
        return redirect(_employee_url(session, revision.employee_id) + "#employee-lines")
    context = {**_lines_context(request, session, revision), "lines_error": error}
    return render(request, LINES, context, status=status)


@login_required
@require_GET
def unmatched_charges_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The chase list: every charge of the session without a receipt."""
    session = get_session_for(request.user, pk)
    filters = ChaseFilterForm(request.GET)
    filters.is_valid()
    data = {key: (filters.cleaned_data.get(key) or "").strip() for key in ("employee", "q", "sort")}
    sort = data["sort"] if data["sort"].lstrip("-") in CHASE_ORDERING else ""
    charges = chase_list(
        session=session,
        employee=data["employee"] or None,
        search=data["q"] or None,
        ordering=[sort] if sort else [],
    )
    if request.GET.get("format") == "csv":
        return chase_csv(session, charges)
    page = Paginator(charges, CHARGES_PER_PAGE).get_page(request.GET.get("page"))
    query = {key: value for key, value in {**data, "sort": sort}.items() if value}
    context = {
        "session": session,
        "page": page,
        "filters": data,
        "query": urlencode(query),
        "csv_query": urlencode({**query, "format": "csv"}),
        "columns": _columns(query, sort),
    }
    is_htmx = getattr(request, "htmx", False) and request.htmx.target == "charges"  # type: ignore[attr-defined]
    return render(request, f"{CHASE}#charges" if is_htmx else CHASE, context)


def _columns(query: dict[str, str], sort: str) -> list[dict[str, Any]]:
    columns = []
    for key, label in CHASE_COLUMNS.items():
        ascending, descending = sort == key, sort == f"-{key}"
        columns.append(
            {
                "label": label,
                "numeric": key == "amount",
                "query": urlencode({**query, "sort": f"-{key}" if ascending else key}),
                "aria_sort": "ascending" if ascending else "descending" if descending else "",
            }
        )
    return columns
