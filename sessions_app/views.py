"""Operator pages for sessions: list, new session, the session page and its live panels,
receipts, card statement replacement, close, switch, employee detail.

Views parse input, check access through the selectors, call a service and show its domain
error. htmx requests get the named partial of the page (see STYLE.md, HTMX pages)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event
from django_htmx.middleware import HtmxDetails

from audit.models import ActivityEvent
from exports.selectors import (
    annotate_change,
    change_summary,
    export_history,
    export_lines_for_revision,
    session_proof,
)
from recalc.models import RecalcJob
from sessions_app.errors import DomainError, DuplicateFile, InvalidFile
from sessions_app.forms import (
    EMPLOYEE_SORTS,
    CardReplaceForm,
    ColumnMappingForm,
    EmployeeFilterForm,
    ReceiptReapplyForm,
    ReceiptUploadForm,
    RevisionResolveForm,
    SessionCloseForm,
    SessionCreateForm,
    SessionFilterForm,
    SessionSwitchForm,
)
from sessions_app.ingestion import ColumnsNotFound, import_summary_sentence
from sessions_app.models import (
    CardTransaction,
    EmployeeRevision,
    Engagement,
    Membership,
    ProcessingSession,
)
from sessions_app.selectors import (
    active_job_for,
    effective_receipt_version_numbers,
    get_engagement_for,
    get_session_for,
    is_staff,
    receipt_lines_in_effect,
    role_in,
    session_list_for_user,
    with_session_figures,
)
from sessions_app.services import (
    card_replace_refusal,
    import_profile_save,
    receipt_version_reapply,
    receipt_version_upload,
    revision_resolve,
    session_card_replace,
    session_close,
    session_create,
    user_current_session_switch,
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


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware (typing only)."""

    htmx: HtmxDetails


# --- Helpers shared by the operator pages (also used by recalc and exports views) --------------


def htmx_fragment(request: HtmxHttpRequest, names: Iterable[str]) -> str | None:
    """The partial an htmx request asks for (its target's id), or None for a whole page."""
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.history_restore_request:
        return None
    return htmx.target if htmx.target in set(names) else None


def came_from(request: HtmxHttpRequest, url: str) -> bool:
    """Whether an htmx request was sent by the page at `url` (its fragments are there)."""
    return bool(request.htmx) and urlsplit(request.htmx.current_url or "").path == url


def can_write(user: Any, session: ProcessingSession) -> bool:
    """Whether the page shows write controls; the services and get_session_for still decide."""
    return not session.is_closed and role_in(user, session.engagement_id) == (
        Membership.Role.OPERATOR
    )


def domain_status(error: DomainError) -> int:
    # A refused input is 422, so htmx swaps the explanation in like a form error.
    return 422 if error.http_status == 400 else error.http_status


def redirect_or_client_redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def session_url(session: ProcessingSession) -> str:
    return reverse("sessions_app:session_detail", args=[session.pk])


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


def writable_engagements(user: Any) -> list[Engagement]:
    """Engagements where the user may open sessions (operators; staff everywhere)."""
    if is_staff(user):
        return list(Engagement.objects.all())
    return list(
        Engagement.objects.filter(
            memberships__user=user, memberships__role=Membership.Role.OPERATOR
        )
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


def _new_session_initial(request: HtmxHttpRequest) -> dict[str, Any]:
    """Pre-selections after an import profile was saved (see import_profile_new)."""
    names = ("engagement", "card_profile", "receipts_profile")
    return {name: request.GET[name] for name in names if request.GET.get(name, "").isdigit()}


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
    return ColumnMappingForm(
        headers=error.found_headers,
        suggestion=error.suggestion.get("columns") or {},
        initial={
            "engagement": engagement.pk,
            "profile_field": "receipts_profile" if for_receipts else "card_profile",
            "next": reverse("sessions_app:session_new"),
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
            key.removeprefix("suggest_"): value
            for key, value in request.GET.items()
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
                engagement=engagement, data=form.profile_data(), actor=request.user
            )
        except DomainError as error:
            form.add_error(None, error.message)
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
    query = {form.cleaned_data["profile_field"]: profile_pk, "engagement": engagement_pk}
    return f"{target.split('?', 1)[0]}?{urlencode(query)}"


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
    rows = annotate_change(EmployeeRevision.objects.filter(session=session))
    if filters["q"]:
        rows = rows.filter(
            Q(employee_id__icontains=filters["q"]) | Q(employee_name__icontains=filters["q"])
        )
    if filters["status"]:
        rows = rows.filter(status=filters["status"])
    if filters["change"]:
        rows = rows.filter(change_kind=filters["change"])  # type: ignore[misc]
    if filters["exported"]:
        rows = rows.filter(exported_car_amount__isnull=filters["exported"] == "no")
    sort = filters["sort"].replace("change", "change_kind")
    tiebreak = "-employee_id" if sort.startswith("-") else "employee_id"
    return rows.select_related("last_export_batch").order_by(sort, tiebreak)


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
    form_class: type[forms.Form],
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
        suggested = error.suggestion.get("columns") or {}
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


# --- Close and switch -----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def session_close_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk, write=True)
    form = SessionCloseForm(request.POST or None)
    context: dict[str, Any] = {"session": session, "form": form}
    if request.method == "GET" or not form.is_valid():
        status = 200 if request.method == "GET" else 422
        return dialog_response(request, CLOSE, context, form="close-form", status=status)
    try:
        session = session_close(
            session=session, reason=form.cleaned_data["reason"], actor=request.user
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
    revision = _revision_of(session, employee_id)
    context = _employee_context(request, session, revision)
    context["resolve_form"] = RevisionResolveForm(initial={"version": revision.version})
    fragment = htmx_fragment(request, EMPLOYEE_PANELS)
    return render(request, f"{EMPLOYEE}#{fragment}" if fragment else EMPLOYEE, context)


@login_required
@require_POST
def employee_resolve(request: HtmxHttpRequest, pk: int, employee_id: str) -> HttpResponse:
    session = get_session_for(request.user, pk, write=True)
    revision = _revision_of(session, employee_id)
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


def _revision_of(session: ProcessingSession, employee_id: str) -> EmployeeRevision:
    return get_object_or_404(
        EmployeeRevision.objects.select_related("resolved_by", "last_export_batch"),
        session=session,
        employee_id=employee_id,
    )


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
