"""Reads of recalculation jobs shared by every app that must wait for one."""

from __future__ import annotations

from recalc.models import ACTIVE_JOB_STATUSES, RecalcJob
from sessions_app.models import ProcessingSession


def active_job_for(session: ProcessingSession) -> RecalcJob | None:
    """The session's queued or running job, if any (the database allows one at a time)."""
    return RecalcJob.objects.filter(session=session, status__in=ACTIVE_JOB_STATUSES).first()
