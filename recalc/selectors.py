"""Reads of recalculation jobs: access to one job for every door, and the active job every
app that must wait for one asks about."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from recalc.models import ACTIVE_JOB_STATUSES, RecalcJob
from sessions_app.access import check_engagement_access
from sessions_app.models import ProcessingSession


def active_job_for(session: ProcessingSession) -> RecalcJob | None:
    """The session's queued or running job, if any (the database allows one at a time)."""
    return RecalcJob.objects.filter(session=session, status__in=ACTIVE_JOB_STATUSES).first()


def get_job_for(
    user: Any, pk: int, *, write: bool = False, session_pk: int | None = None
) -> RecalcJob:
    """A job the user may see (`write`: act on), with its session: 404 when there is no such
    job, or it belongs to another engagement (or, given `session_pk`, another session);
    403 when a viewer asks to act."""
    jobs = RecalcJob.objects.select_related("session__engagement", "receipt_version", "created_by")
    if session_pk is not None:
        jobs = jobs.filter(session_id=session_pk)
    job = jobs.filter(pk=pk).first()
    if job is None:
        raise Http404("No such job.")
    check_engagement_access(user, job.session.engagement_id, write=write)
    return job
