"""The scripts' door to recalculation jobs: status, actions, preview diff, and progress as
Server-Sent Events.

A job belongs to its session's engagement: another engagement's job is a 404, a viewer
asking for an action a 403, exactly as for sessions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import FirstRendererNegotiation, not_found_as
from recalc.models import ACTIVE_JOB_STATUSES, RecalcJob
from recalc.selectors import get_job_for
from recalc.serializers import JobEventSerializer, RecalcJobDiffSerializer, RecalcJobSerializer
from recalc.services import (
    recalc_job_apply,
    recalc_job_cancel,
    recalc_job_discard,
    recalc_job_resume,
    session_recalculate,
)
from sessions_app.access import session_for

# The stream polls the job row; progress is written in short transactions of its own, so
# every poll sees the latest state.
EVENT_POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
# A stream never outlives this; an EventSource reconnects by itself (after `retry` ms).
STREAM_MAX_SECONDS = 3600.0
RECONNECT_MILLISECONDS = 2000
PROGRESS_FIELDS = ("status", "stage", "stage_name", "progress", "processed", "total", "message")


def job_for(user: Any, pk: int, *, write: bool = False) -> RecalcJob:
    with not_found_as("No such job."):
        return get_job_for(user, pk, write=write)


def job_answer(job: RecalcJob, *, answer: int = status.HTTP_200_OK) -> Response:
    return Response(RecalcJobSerializer(job).data, status=answer)


class JobDetailApi(APIView):
    @extend_schema(tags=["jobs"], responses=RecalcJobSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return job_answer(job_for(request.user, pk))


JOB_ACTIONS: dict[str, Callable[..., RecalcJob]] = {
    "cancel": recalc_job_cancel,
    "resume": recalc_job_resume,
    "apply": recalc_job_apply,
    "discard": recalc_job_discard,
}
JOB_ACTION_HELP = {
    "cancel": "A queued job stops at once, a running one at its next stage boundary; a "
    "preview awaiting confirmation is discarded.",
    "resume": "Requeue a failed job; it resumes after its last completed stage.",
    "apply": "Confirm a preview: the job resumes at the apply stage.",
    "discard": "Drop a preview: nothing is changed.",
}


def job_action_view(action: str) -> type[APIView]:
    """One small view per action (cancel, resume, apply, discard), each calling its service."""
    service = JOB_ACTIONS[action]

    class JobActionApi(APIView):
        @extend_schema(
            tags=["jobs"],
            request=None,
            responses=RecalcJobSerializer,
            description=JOB_ACTION_HELP[action] + " 409 invalid_state if the job is not in a "
            "state that allows it.",
            operation_id=f"jobs_{action}",
        )
        def post(self, request: Request, pk: int) -> Response:
            job = job_for(request.user, pk, write=True)
            return job_answer(service(job=job, actor=request.user))

    JobActionApi.__name__ = JobActionApi.__qualname__ = f"Job{action.title()}Api"
    return JobActionApi


class JobDiffApi(APIView):
    @extend_schema(
        tags=["jobs"],
        responses=RecalcJobDiffSerializer,
        description="Per employee: new / changed (old → new, Δ) / removed, the counts "
        "(unchanged employees are counted, not listed) and, for a preview, what the next "
        "delta export would send once applied.",
    )
    def get(self, request: Request, pk: int) -> Response:
        job = job_for(request.user, pk)
        diff = job.diff if isinstance(job.diff, dict) else {}
        return Response(
            {
                "job": RecalcJobSerializer(job).data,
                "counts": diff.get("counts"),
                "employees": diff.get("employees", []),
                "next_delta_export": diff.get("next_delta_export"),
            }
        )


# --- Server-Sent Events ---------------------------------------------------------------------------


def sse_event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, cls=DjangoJSONEncoder)}\n\n".encode()


def progress_payload(job: RecalcJob) -> dict[str, Any]:
    return {field: getattr(job, field) for field in PROGRESS_FIELDS}


def final_event_name(job: RecalcJob) -> str | None:
    """`complete` when the job is done or its preview is ready for a decision (the payload's
    status says which), `error` when it failed or was cancelled, None while it runs."""
    if job.status in (RecalcJob.Status.COMPLETED, RecalcJob.Status.AWAITING_CONFIRMATION):
        return "complete"
    if job.status in ACTIVE_JOB_STATUSES:
        return None
    return "error"


def stream_pause(seconds: float) -> None:
    time.sleep(seconds)


def job_event_stream(
    job_id: int,
    *,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """`progress` each time the job row changes, a heartbeat comment when nothing changed
    for a while (proxies close silent connections), then `complete` or `error`."""
    pause = sleep or stream_pause
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n".encode()
    started = last_sent = clock()
    last_progress: dict[str, Any] | None = None
    while True:
        job = RecalcJob.objects.filter(pk=job_id).first()
        if job is None:
            yield sse_event("error", {"status": None, "message": "The job no longer exists."})
            return
        progress = progress_payload(job)
        if progress != last_progress:
            yield sse_event("progress", progress)
            last_progress, last_sent = progress, clock()
        final = final_event_name(job)
        if final is not None:
            yield sse_event(final, RecalcJobSerializer(job).data)
            return
        if clock() - started >= STREAM_MAX_SECONDS:
            return
        if clock() - last_sent >= HEARTBEAT_SECONDS:
            yield b": heartbeat\n\n"
            last_sent = clock()
        pause(EVENT_POLL_SECONDS)


class JobEventsApi(APIView):
    # Errors (401, 404) are JSON whatever the client accepts; success is the stream.
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        tags=["jobs"],
        responses={(200, "text/event-stream"): JobEventSerializer},
        description="Server-Sent Events: `progress` (JSON: status, stage, stage_name, "
        "progress, processed, total, message) each time the job changes, then `complete` "
        "(done, or a preview ready to apply) or `error` (failed or cancelled) with the job, "
        "and the stream ends. Comments (`: heartbeat`) keep an idle connection open.",
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        job = job_for(request.user, pk)
        response = StreamingHttpResponse(
            job_event_stream(job.pk), content_type="text/event-stream; charset=utf-8"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
        return response


# --- Session-level job endpoints ------------------------------------------------------------------


class SessionRecalculateApi(APIView):
    @extend_schema(
        tags=["jobs"],
        request=None,
        responses={202: RecalcJobSerializer},
        description="Queue a recalculation; 409 job_active (with the active job's link) if "
        "the session already has one.",
    )
    def post(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk, write=True)
        job = session_recalculate(session=session, actor=request.user)
        job.refresh_from_db()
        return job_answer(job, answer=status.HTTP_202_ACCEPTED)


class SessionReprocessStatusApi(APIView):
    @extend_schema(tags=["jobs"], responses=RecalcJobSerializer)
    def get(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk)
        job = (
            RecalcJob.objects.filter(session=session)
            .select_related("receipt_version")
            .order_by("-created_at", "-pk")
            .first()
        )
        if job is None:
            raise Http404("This session has no job yet.")
        return job_answer(job)
