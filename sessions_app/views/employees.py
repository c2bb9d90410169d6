"""Employee detail: an employee's revision, its history and resolving it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from core.errors import DomainError
from core.htmx import (
    HtmxHttpRequest,
    domain_status,
    htmx_fragment,
)
from exports.selectors import (
    export_lines_for_revision,
)
from sessions_app.access import get_revision_for
from sessions_app.forms import (
    RevisionResolveForm,
)
from sessions_app.models import (
    CardTransaction,
    EmployeeRevision,
    ProcessingSession,
)
from sessions_app.selectors import (
    get_session_for,
    receipt_lines_in_effect,
)
from sessions_app.services import (
    revision_resolve,
)
from sessions_app.views.panels import (
    EMPLOYEE,
    can_write,
)

# --- Employee detail ------------------------------------------------------------------------

EMPLOYEE_PANELS = ("employee-overview", "revision-history")
# What the revision history compares between consecutive rows.
REVISION_FIELDS = [
    "employee_name",
    "car_amount",
    "receipt_amount",
    "difference",
    "status",
    "resolution_note",
    "receipt_version_processed",
    "exported_car_amount",
    "exported_receipt_amount",
    "exported_at",
]


@login_required
@require_GET
def employee_detail(request: HtmxHttpRequest, pk: int, employee_id: str) -> HttpResponse:
    session = get_session_for(request.user, pk)
    revision = get_revision_for(session, employee_id)
    context = _employee_context(request, session, revision)
    context["resolve_form"] = RevisionResolveForm(initial={"version": revision.version})
    fragment = htmx_fragment(request, EMPLOYEE_PANELS)
    return render(request, f"{EMPLOYEE}#{fragment}" if fragment else EMPLOYEE, context)


@login_required
@require_POST
def employee_resolve(request: HtmxHttpRequest, pk: int, employee_id: str) -> HttpResponse:
    session = get_session_for(request.user, pk, write=True)
    revision = get_revision_for(session, employee_id)
    form = RevisionResolveForm(request.POST)
    status = 422
    if form.is_valid():
        try:
            revision = revision_resolve(
                revision=revision,
                note=form.cleaned_data["note"],
                expected_version=form.cleaned_data["version"],
                actor=request.user,
            )
        except DomainError as error:
            form.add_error(None, error.message)
            status = domain_status(error)
        else:
            return _resolved(request, session, revision)
    context = _employee_context(request, session, revision)
    context["resolve_form"] = form
    template = f"{EMPLOYEE}#employee-overview" if request.htmx else EMPLOYEE
    return render(request, template, context, status=status)


def _resolved(
    request: HtmxHttpRequest, session: ProcessingSession, revision: EmployeeRevision
) -> HttpResponse:
    url = reverse("sessions_app:employee_detail", args=[session.pk, revision.employee_id])
    if not request.htmx:
        messages.success(request, f"{revision.employee_id} resolved.")
        return redirect(url)
    context = _employee_context(request, session, revision)
    context["resolve_form"] = RevisionResolveForm(initial={"version": revision.version})
    response = render(request, f"{EMPLOYEE}#employee-overview", context)
    return trigger_client_event(response, "revision-changed")


def _employee_context(
    request: HtmxHttpRequest, session: ProcessingSession, revision: EmployeeRevision
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "session": session,
        "revision": revision,
        "can_write": can_write(request.user, session),
        "history": _revision_history(revision),
        "export_lines": export_lines_for_revision(revision),
    }
    if session.archived_at is None:
        # An archived session's lines live in the archive, not the database.
        context["card_lines"] = CardTransaction.objects.filter(
            session=session, employee_id=revision.employee_id
        ).order_by("line_number")
        context["receipt_lines"] = (
            receipt_lines_in_effect(session)
            .filter(employee_id=revision.employee_id)
            .select_related("receipt_version")
            .order_by("receipt_version__version", "line_number")
        )
    return context


def _revision_history(revision: EmployeeRevision) -> list[dict[str, Any]]:
    """Every history row, newest first, with what changed since the row before it."""
    records = list(
        revision.history.select_related("history_user").order_by("history_date", "history_id")
    )
    rows = []
    previous = None
    for record in records:
        changes: list[dict[str, Any]] = []
        if previous is not None:
            delta = record.diff_against(previous, included_fields=REVISION_FIELDS)
            changes = [
                {"field": change.field.replace("_", " "), "old": change.old, "new": change.new}
                for change in delta.changes
            ]
        rows.append({"record": record, "changes": changes})
        previous = record
    return rows[::-1]
