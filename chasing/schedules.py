"""The django-q2 schedules chasing needs, registered by migration 0002 and kept by name, so
running migrations again never adds a second copy. django-q2's scheduler lets one cluster
take each run."""

from __future__ import annotations

import datetime

RETRIES = "chasing email retries"
ESCALATION = "chasing escalation"
WEEKLY_REPORT = "chasing weekly report"


def _next(now: datetime.datetime, *, hour: int, weekday: int | None = None) -> datetime.datetime:
    """The next hour:00 UTC (on `weekday`, Monday = 0, when given) after `now`."""
    moment = now.astimezone(datetime.UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    while moment <= now or (weekday is not None and moment.weekday() != weekday):
        moment += datetime.timedelta(days=1)
    return moment


def schedules(now: datetime.datetime) -> dict[str, dict[str, object]]:
    return {
        RETRIES: {
            "func": "chasing.tasks.outbound_emails_retry_task",
            "schedule_type": "I",  # every `minutes`
            "minutes": 1,
            "repeats": -1,
        },
        ESCALATION: {
            "func": "chasing.tasks.receipt_requests_escalate_task",
            "schedule_type": "D",  # daily, 06:00 UTC
            "repeats": -1,
            "next_run": _next(now, hour=6),
        },
        WEEKLY_REPORT: {
            "func": "chasing.tasks.weekly_reports_send_task",
            "schedule_type": "W",  # weekly, Mondays 07:00 UTC
            "repeats": -1,
            "next_run": _next(now, hour=7, weekday=0),
        },
    }
