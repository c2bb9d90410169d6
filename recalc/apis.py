"""The scripts' door to recalculation jobs: status, actions, preview diff, and progress as
Server-Sent Events.

A job belongs to its session's engagement: another engagement's job is a 404, a viewer
asking for an action a 403, exactly as for sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import FirstRendererNegotiation, not_found_as
from recalc.models import RecalcJob
from recalc.selectors import get_job_for
from recalc.serializers import JobEventSerializer, RecalcJobDiffSerializer, RecalcJobSerializer
from recalc.services import (
    recalc_job_apply,
    recalc_job_cancel,
    recalc_job_discard,
    recalc_job_resume,
    session_recalculate,
)
from recalc.streams import job_event_stream, job_event_stream_async, job_stream_acquire
from sessions_app.access import session_for


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
                "pairs": diff.get("pairs", []),
            }
        )


# --- Server-Sent Events ---------------------------------------------------------------------------


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
        if isinstance(request._request, ASGIRequest):
            release = job_stream_acquire(request.user.pk)
            events: Any = job_event_stream_async(job.pk, release=release)
        else:
            events = job_event_stream(job.pk)
        response = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
        response["Cache-Control"] = "no-cache, no-store"
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
