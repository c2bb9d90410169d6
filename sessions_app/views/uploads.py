"""Receipt uploads and rollbacks, card statement replacement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from core.errors import DomainError, DuplicateFile
from core.htmx import (
    HtmxHttpRequest,
    dialog_response,
    domain_status,
)
from sessions_app.forms import (
    CardReplaceForm,
    ReceiptReapplyForm,
    ReceiptUploadForm,
)
from sessions_app.ingestion import ColumnsNotFound, import_summary_sentence
from sessions_app.models import (
    ProcessingSession,
)
from sessions_app.selectors import (
    get_session_for,
)
from sessions_app.services import (
    card_replace_refusal,
    receipt_version_reapply,
    receipt_version_upload,
    session_card_replace,
)
from sessions_app.views.panels import (
    CARD,
    RECEIPTS,
    action_failed,
    after_job_changed,
)

# --- Receipts -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def receipts_upload(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    def store(data: dict[str, Any], session: ProcessingSession) -> str:
        version = receipt_version_upload(
            session=session,
            file=data["file"],
            actor=request.user,
            mode=data["mode"],
            note=data["note"],
            force=data["force"],
            preview=data["preview"],
            profile=data["profile"],
        )
        return f"Receipts v{version.version} stored. " + import_summary_sentence(
            version.import_summary
        )

    return _file_upload(
        request,
        pk,
        form_class=ReceiptUploadForm,
        template=RECEIPTS,
        form_id="receipts-form",
        url_name="sessions_app:receipts_upload",
        store=store,
    )


def _file_upload(
    request: HtmxHttpRequest,
    pk: int,
    *,
    form_class: type[ReceiptUploadForm | CardReplaceForm],
    template: str,
    form_id: str,
    url_name: str,
    store: Callable[[dict[str, Any], ProcessingSession], str],
    extra: Callable[[ProcessingSession], dict[str, Any]] | None = None,
) -> HttpResponse:
    """An upload dialog: the form (again, with its errors), or the file handed to `store`,
    whose refusal is shown under the form; on success the session's job panel takes over."""
    session = get_session_for(request.user, pk, write=True)
    initial = {"profile": request.GET["profile"]} if request.GET.get("profile") else None
    form = form_class(request.POST or None, request.FILES or None, session=session, initial=initial)
    context: dict[str, Any] = {"session": session, "form": form}
    if request.method == "GET" or not form.is_valid():
        context.update(extra(session) if extra else {})
        status = 200 if request.method == "GET" else 422
        return dialog_response(request, template, context, form=form_id, status=status)
    try:
        stored = store(form.cleaned_data, session)
    except DomainError as error:
        return _upload_refused(request, context, error, template=template, url_name=url_name)
    if not request.htmx:
        messages.success(request, stored)
    return after_job_changed(request, session)


def _upload_refused(
    request: HtmxHttpRequest,
    context: dict[str, Any],
    error: DomainError,
    *,
    template: str,
    url_name: str,
) -> HttpResponse:
    """The reason a file was refused, under the form: with htmx only that part is replaced,
    so the chosen file stays selected for a forced or corrected retry."""
    context["upload_error"] = error
    context["duplicate"] = isinstance(error, DuplicateFile)
    if isinstance(error, ColumnsNotFound):
        suggested = error.suggested_columns
        context["profile_query"] = urlencode(
            {
                **{f"suggest_{role}": header for role, header in suggested.items()},
                "header": error.found_headers,
                "engagement": context["session"].engagement_id,
                "profile_field": "profile",
                "next": reverse(url_name, args=[context["session"].pk]),
            },
            doseq=True,
        )
    status = domain_status(error)
    if not request.htmx:
        return render(request, template, context, status=status)
    response = render(request, f"{template}#upload-problem", context, status=status)
    retarget(response, "#upload-problem")
    return reswap(response, "outerHTML")


# --- Card statement replacement -------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def card_replace(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    def store(data: dict[str, Any], session: ProcessingSession) -> str:
        session_card_replace(
            session=session,
            file=data["file"],
            profile=data["profile"],
            note=data["note"],
            force=data["force"],
            actor=request.user,
        )
        session.refresh_from_db(fields=["card_import_summary"])
        return "Card statement replaced; every employee is recalculated. " + (
            import_summary_sentence(session.card_import_summary)
        )

    return _file_upload(
        request,
        pk,
        form_class=CardReplaceForm,
        template=CARD,
        form_id="card-form",
        url_name="sessions_app:card_replace",
        store=store,
        extra=lambda session: {"refusal": card_replace_refusal(session)},
    )


@login_required
@require_POST
def receipt_reapply(request: HtmxHttpRequest, pk: int, version: int) -> HttpResponse:
    session = get_session_for(request.user, pk, write=True)
    form = ReceiptReapplyForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        receipt_version_reapply(
            session=session, version_number=version, actor=request.user, note=note
        )
    except DomainError as error:
        return action_failed(request, session, error, panel="receipt-versions")
    if not request.htmx:
        messages.success(request, f"Rolling back to receipts v{version}.")
    return after_job_changed(request, session)
