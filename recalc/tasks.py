"""django-q2 tasks: thin wrappers that take a primary key and call a service."""

from __future__ import annotations

from recalc.services import recalc_job_run, recalc_jobs_recover


def recalc_job_task(job_id: int) -> str:
    job = recalc_job_run(job_id=job_id)
    return f"job {job_id}: {job.status if job else 'not claimable (already taken or ended)'}"


def recalc_watchdog_task() -> str:
    """Scheduled every minute by migration recalc 0003 (see recalc_jobs_recover)."""
    recovery = recalc_jobs_recover()
    return (
        f"failed {recovery.failed}, resumed {recovery.resumed}, "
        f"handed again {recovery.redispatched}"
    )
