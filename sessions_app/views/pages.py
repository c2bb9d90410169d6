"""Session list, new session, import profiles, close and switch."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from core.errors import ConfirmRequired, DomainError, InvalidFile
from core.htmx import (
    HtmxHttpRequest,
    came_from,
    dialog_response,
    domain_status,
    htmx_fragment,
    redirect_or_client_redirect,
)
from exports.selectors import close_pending
from sessions_app.access import writable_engagements
from sessions_app.forms import (
    ColumnMappingForm,
    SessionCloseForm,
    SessionCreateForm,
    SessionFilterForm,
    SessionSwitchForm,
)
from sessions_app.ingestion import ColumnsNotFound, import_summary_sentence
from sessions_app.models import (
    ProcessingSession,
)
from sessions_app.selectors import (
    get_engagement_for,
    get_session_for,
    session_list_for_user,
)
from sessions_app.services import (
    import_profile_save,
    session_close,
    session_create,
    user_current_session_switch,
)
from sessions_app.views.panels import (
    CLOSE,
    LIST,
    NEW,
    PROFILE,
    SESSIONS_PER_PAGE,
    session_url,
)

# --- Session list ---------------------------------------------------------------------------


@login_required
@require_GET
def session_list(request: HtmxHttpRequest) -> HttpResponse:
    filters = SessionFilterForm(request.GET)
    sessions = session_list_for_user(request.user, **filters.filters()).order_by(
        "-period_start", "-id"
    )
    page = Paginator(sessions, SESSIONS_PER_PAGE).get_page(request.GET.get("page"))
    for card in page:
        _count_exceptions(card)
    chosen = filters.filters()
    query = {
        param: chosen[name]
        for param, name in (("q", "search"), ("status", "status"), ("engagement", "engagement"))
        if chosen[name]
    }
    context = {
        "page": page,
        "filters": filters,
        "filter_query": f"{urlencode(query)}&" if query else "",
        "statuses": ProcessingSession.Status.choices,
        "writable_ids": {engagement.pk for engagement in writable_engagements(request.user)},
    }
    fragment = htmx_fragment(request, ["session-cards"])
    response = render(request, f"{LIST}#{fragment}" if fragment else LIST, context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _count_exceptions(card: Any) -> Any:
    """A session card's exceptions: employees that are not export-ready."""
    card.exception_count = card.employee_count - card.matched_count
    return card


# --- New session and import profiles --------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def session_new(request: HtmxHttpRequest) -> HttpResponse:
    engagements = writable_engagements(request.user)
    if not engagements:
        raise PermissionDenied("Only operators can open sessions.")
    form = SessionCreateForm(
        request.POST or None,
        request.FILES or None,
        engagements=engagements,
        initial=_new_session_initial(request),
    )
    context: dict[str, Any] = {"form": form}
    if request.method == "GET":
        return render(request, NEW, context)
    if form.is_valid():
        try:
            session = _session_create_from(form, request.user)
        except ColumnsNotFound as error:
            context.update(file_error=error, mapping_form=_mapping_form_for(error, form))
        except InvalidFile as error:
            context["file_error"] = error
        except DomainError as error:
            context["problem"] = error.message
        else:
            messages.success(
                request,
                f"Session '{session.name}' created; processing started. "
                + import_summary_sentence(session.card_import_summary),
            )
            return redirect_or_client_redirect(request, session_url(session))
    return _session_new_refused(request, context)


def _session_new_refused(request: HtmxHttpRequest, context: dict[str, Any]) -> HttpResponse:
    """With htmx a refused file only replaces the problems above the form, so the chosen
    files stay selected; invalid fields re-render the form."""
    if not request.htmx:
        return render(request, NEW, context, status=422)
    if context["form"].errors:
        return render(request, f"{NEW}#session-form", context, status=422)
    response = render(request, f"{NEW}#session-problems", context, status=422)
    retarget(response, "#session-problems")
    return reswap(response, "outerHTML")


# What the operator typed in the new-session form travels through the column mapping and
# back, so saving a profile never loses it.
TYPED_SESSION_FIELDS = ("name", "period_start", "period_end", "tolerance")


def _new_session_initial(request: HtmxHttpRequest) -> dict[str, Any]:
    """Pre-selections after an import profile was saved (see import_profile_new), and the
    fields the operator had typed before the mapping."""
    names = ("engagement", "card_profile", "receipts_profile")
    initial = {name: request.GET[name] for name in names if request.GET.get(name, "").isdigit()}
    typed = {
        name: request.GET[name][:200] for name in TYPED_SESSION_FIELDS if request.GET.get(name)
    }
    return {**initial, **typed}


def _session_create_from(form: SessionCreateForm, user: Any) -> ProcessingSession:
    data = form.cleaned_data
    engagement = get_engagement_for(user, data["engagement"].pk, write=True)
    return session_create(
        engagement=engagement,
        name=data["name"],
        period_start=data["period_start"],
        period_end=data["period_end"],
        tolerance=data["tolerance"],
        card_file=data["card_file"],
        card_profile=data["card_profile"],
        receipts_file=data["receipts_file"],
        receipts_profile=data["receipts_profile"],
        actor=user,
    )


def _mapping_form_for(error: ColumnsNotFound, form: SessionCreateForm) -> ColumnMappingForm:
    # The service labels each file's errors with the file they come from.
    for_receipts = error.file_label.startswith("The receipts file")
    engagement = form.cleaned_data["engagement"]
    upload = form.cleaned_data["receipts_file" if for_receipts else "card_file"]
    stem = (getattr(upload, "name", "") or "").rsplit(".", 1)[0]
    typed = {name: str(form.data.get(name, "")) for name in TYPED_SESSION_FIELDS}
    back = f"{reverse('sessions_app:session_new')}?{urlencode(typed)}"
    return ColumnMappingForm(
        headers=error.found_headers,
        suggestion=error.suggested_columns,
        initial={
            "engagement": engagement.pk,
            "profile_field": "receipts_profile" if for_receipts else "card_profile",
            "next": back,
            "name": stem[:100],
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def import_profile_new(request: HtmxHttpRequest) -> HttpResponse:
    """Save the column mapping of a file as an import profile, then go back to the form
    that needed it with the profile selected (the file itself has to be chosen again)."""
    data = request.GET if request.method == "GET" else request.POST
    engagement = get_engagement_for(request.user, data.get("engagement") or "0", write=True)
    if request.method == "GET":
        suggestion = {
            key.removeprefix("suggest_"): str(request.GET[key])
            for key in request.GET
            if key.startswith("suggest_")
        }
        form = ColumnMappingForm(
            headers=_headers_param(request), suggestion=suggestion, initial=data.dict()
        )
        return render(request, PROFILE, {"mapping_form": form})
    form = ColumnMappingForm(request.POST)
    if form.is_valid():
        try:
            profile = import_profile_save(
                engagement=engagement,
                data=form.profile_data(),
                actor=request.user,
                replace=form.cleaned_data["replace_existing"],
            )
        except DomainError as error:
            name_taken = isinstance(error, ConfirmRequired)
            form.add_error("name" if name_taken else None, error.message)
            context = {"mapping_form": form, "name_taken": name_taken}
            return render(request, PROFILE, context, status=domain_status(error))
        else:
            messages.success(
                request,
                f"Import profile '{profile.name}' saved and selected. Choose the file again "
                "(a browser cannot keep a file between pages) and submit.",
            )
            return redirect(_after_profile_url(request, form, profile.pk, engagement.pk))
    return render(request, PROFILE, {"mapping_form": form}, status=422)


def _headers_param(request: HtmxHttpRequest) -> list[str]:
    return [header for header in request.GET.getlist("header") if header][:200]


def _after_profile_url(
    request: HtmxHttpRequest, form: ColumnMappingForm, profile_pk: int, engagement_pk: int
) -> str:
    target = form.cleaned_data["next"] or reverse("sessions_app:session_new")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("sessions_app:session_new")
    path, _, kept = target.partition("?")
    typed = {name: value for name, value in parse_qsl(kept) if name in TYPED_SESSION_FIELDS}
    query = {**typed, form.cleaned_data["profile_field"]: profile_pk, "engagement": engagement_pk}
    return f"{path}?{urlencode(query)}"


# --- Close and switch -----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def session_close_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk, write=True)
    form = SessionCloseForm(request.POST or None)
    context: dict[str, Any] = {
        "session": session,
        "form": form,
        "pending": close_pending(session),
        "currency": session.currency,
    }
    if request.method == "GET" or not form.is_valid():
        status = 200 if request.method == "GET" else 422
        return dialog_response(request, CLOSE, context, form="close-form", status=status)
    try:
        session = session_close(
            session=session,
            reason=form.cleaned_data["reason"],
            actor=request.user,
            close_anyway=form.cleaned_data["close_anyway"],
        )
    except DomainError as error:
        form.add_error(None, error.message)
        return dialog_response(
            request, CLOSE, context, form="close-form", status=domain_status(error)
        )
    if request.htmx and came_from(request, reverse("sessions_app:session_list")):
        return _session_card_response(request, session)
    messages.success(request, f"Session '{session.name}' closed.")
    return redirect_or_client_redirect(request, session_url(session))


def _session_card_response(request: HtmxHttpRequest, session: ProcessingSession) -> HttpResponse:
    """The session's card on the list page, fresh, and the dialog closed."""
    card = _count_exceptions(session_list_for_user(request.user).get(pk=session.pk))
    context = {
        "session": card,
        "writable_ids": {engagement.pk for engagement in writable_engagements(request.user)},
    }
    html = render_to_string(f"{LIST}#session-card", context, request)
    html += render_to_string("base.html#modal-closed", {}, request)
    response = HttpResponse(html)
    retarget(response, f"#session-{session.pk}")
    return reswap(response, "outerHTML")


@login_required
@require_POST
def session_switch(request: HtmxHttpRequest) -> HttpResponse:
    form = SessionSwitchForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a session to switch to.")
        return redirect_or_client_redirect(request, reverse("sessions_app:session_list"))
    session = get_session_for(request.user, form.cleaned_data["session"])
    user_current_session_switch(user=request.user, session=session)
    return redirect_or_client_redirect(request, session_url(session))
