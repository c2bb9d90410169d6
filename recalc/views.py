"""The session page's job panel: progress polling and the operator's job actions.

The panel polls every second while the job runs; once the job is no longer running the
answer is the final panel with status 286, which stops the polling, and a
`session-changed` event that refreshes the session page's other panels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from core.errors import DomainError
from core.htmx import HtmxHttpRequest
from recalc.selectors import get_job_for
from recalc.services import (
    recalc_job_apply,
    recalc_job_cancel,
    recalc_job_discard,
    recalc_job_resume,
    session_recalculate,
)
from sessions_app.access import get_session_for
from sessions_app.views.panels import (
    DETAIL,
    SESSION_CHANGED,
    action_failed,
    after_job_changed,
    can_write,
    session_url,
)


@login_required
@require_GET
def job_panel(request: HtmxHttpRequest, pk: int, job_pk: int) -> HttpResponse:
    job = get_job_for(request.user, job_pk, session_pk=pk)
    session = job.session
    if not request.htmx:
        return redirect(f"{session_url(session)}#job-panel")
    context = {"session": session, "job": job, "can_write": can_write(request.user, session)}
    html = render_to_string(f"{DETAIL}#job-panel", context, request)
    if job.is_running:
        return HttpResponse(html)
    response = HttpResponseStopPolling(html)
    return trigger_client_event(response, SESSION_CHANGED)


def _job_action(
    request: HtmxHttpRequest, pk: int, job_pk: int, action: Callable[..., Any]
) -> HttpResponse:
    job = get_job_for(request.user, job_pk, write=True, session_pk=pk)
    session = job.session
    try:
        action(job=job, actor=request.user)
    except DomainError as error:
        return action_failed(request, session, error, panel="job-panel")
    return after_job_changed(request, session)


@login_required
@require_POST
def job_cancel(request: HtmxHttpRequest, pk: int, job_pk: int) -> HttpResponse:
    return _job_action(request, pk, job_pk, recalc_job_cancel)


@login_required
@require_POST
def job_apply(request: HtmxHttpRequest, pk: int, job_pk: int) -> HttpResponse:
    return _job_action(request, pk, job_pk, recalc_job_apply)


@login_required
@require_POST
def job_discard(request: HtmxHttpRequest, pk: int, job_pk: int) -> HttpResponse:
    return _job_action(request, pk, job_pk, recalc_job_discard)


@login_required
@require_POST
def job_resume(request: HtmxHttpRequest, pk: int, job_pk: int) -> HttpResponse:
    return _job_action(request, pk, job_pk, recalc_job_resume)


@login_required
@require_POST
def session_recalculate_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk, write=True)
    try:
        session_recalculate(session=session, actor=request.user)
    except DomainError as error:
        return action_failed(request, session, error, panel="job-panel")
    return after_job_changed(request, session)
