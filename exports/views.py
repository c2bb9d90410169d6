"""The export dialog (type, scope, live preview, confirm) and batch downloads."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import trigger_client_event

from core.errors import ConfirmRequired, DomainError
from core.htmx import HtmxHttpRequest, dialog_response, domain_status
from exports.forms import ExportForm, export_choice
from exports.models import ExportBatch
from exports.selectors import export_preview, get_batch_for
from exports.services import export_batch_create, export_batch_file, export_file_name
from exports.writers import content_type_for
from sessions_app.access import get_session_for
from sessions_app.models import ProcessingSession
from sessions_app.views.panels import SESSION_CHANGED, session_url

TEMPLATE = "exports/export_new.html"
PREVIEW_EMPLOYEES_SHOWN = 25


def _preview_context(session: ProcessingSession, data: Any) -> dict[str, Any]:
    export_type, delta_only = export_choice(data)
    preview = export_preview(session, export_type=export_type, delta_only=delta_only)
    return {
        "preview": preview,
        "preview_employees": preview.employees[:PREVIEW_EMPLOYEES_SHOWN],
        "preview_more": preview.employee_count
        - min(preview.employee_count, PREVIEW_EMPLOYEES_SHOWN),
        "repeats_employees": preview.already_exported_count and not delta_only,
    }


@login_required
@require_GET
def export_preview_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The live preview: what an export of this type and scope would contain right now."""
    session = get_session_for(request.user, pk)
    if not request.htmx:
        return redirect(f"{_dialog_url(session)}?{request.GET.urlencode()}")
    context = {"session": session, **_preview_context(session, request.GET)}
    return render(request, f"{TEMPLATE}#export-preview", context)


def _dialog_url(session: ProcessingSession) -> str:
    return reverse("exports:export_new", args=[session.pk])


@login_required
@require_http_methods(["GET", "POST"])
def export_new(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk, write=True)
    if request.method == "GET":
        export_type, delta_only = export_choice(request.GET)
        form = ExportForm(
            initial={"export_type": export_type, "scope": "delta" if delta_only else "all"}
        )
        context = {"session": session, "form": form, **_preview_context(session, request.GET)}
        return dialog_response(request, TEMPLATE, context, form="export-form")
    form = ExportForm(request.POST)
    context = {"session": session, "form": form, **_preview_context(session, request.POST)}
    if not form.is_valid():
        return dialog_response(request, TEMPLATE, context, form="export-form", status=422)
    try:
        batch, _ = _export_create(form, session, request.user)
    except DomainError as error:
        # A repeat of already-exported employees is confirmed by giving the reason.
        form.add_error("reason" if isinstance(error, ConfirmRequired) else None, error.message)
        return dialog_response(
            request, TEMPLATE, context, form="export-form", status=domain_status(error)
        )
    return _exported(request, session, batch)


def _export_create(form: ExportForm, session: ProcessingSession, user: Any) -> Any:
    data = form.cleaned_data
    return export_batch_create(
        session=session,
        export_type=data["export_type"],
        actor=user,
        delta_only=data["scope"] == "delta",
        confirm=bool(data["reason"].strip()),
        reason=data["reason"],
        idempotency_key=data["idempotency_key"],
        file_format=data["file_format"],
    )


def _exported(
    request: HtmxHttpRequest, session: ProcessingSession, batch: ExportBatch
) -> HttpResponse:
    """The dialog turns into the download link; the session page's panels refresh."""
    if not request.htmx:
        messages.success(
            request,
            f"{batch.batch_code} created: {batch.employee_count} employees, "
            f"{batch.total_amount:,.2f}. Download it from the export history.",
        )
        return redirect(f"{session_url(session)}#export-history")
    response = render(request, f"{TEMPLATE}#export-done", {"session": session, "batch": batch})
    return trigger_client_event(response, SESSION_CHANGED)


@login_required
@require_GET
def batch_download(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Viewers may download; another engagement's batch does not exist for this user.
    batch = get_batch_for(request.user, pk)
    try:
        data = export_batch_file(batch=batch, actor=request.user)
    except DomainError as error:
        context = {"batch": batch, "error": error}
        return render(request, "exports/batch_download_failed.html", context, status=500)
    response = HttpResponse(data, content_type=content_type_for(batch.file_format))
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=export_file_name(batch)
    )
    return response
