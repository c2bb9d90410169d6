"""Figures of SPEC §11 for a set of engagements and a date range: the page, its CSV
downloads and GET /api/v1/analytics/sessions/ all read them from here.

Scope of each figure (the page says the same):
- sessions by status, exception rate, time to first export: sessions CREATED in the range;
- exports per week: export batches GENERATED in the range (of any session);
- operator activity: audit events that OCCURRED in the range.
Money stays Decimal; rates and hours are Decimals rounded for display, never floats."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from audit.models import ActivityEvent
from audit.selectors import occurred_between
from exports.models import ExportBatch, ExportLine
from matching.selectors import session_unmatched_totals
from sessions_app.models import ZERO, EmployeeRevision, Engagement, Membership, ProcessingSession

ONE_DECIMAL = Decimal("0.1")
EXCEPTION_STATUSES = [
    status
    for status in EmployeeRevision.Status.values
    if status not in EmployeeRevision.EXPORT_READY
]
ACTIVITY_VERBS = {
    "sessions_created": ActivityEvent.Verb.SESSION_CREATED,
    "receipts_uploaded": ActivityEvent.Verb.RECEIPTS_UPLOADED,
    "exports_generated": ActivityEvent.Verb.EXPORT_GENERATED,
    "employees_resolved": ActivityEvent.Verb.EMPLOYEE_RESOLVED,
    "sessions_closed": ActivityEvent.Verb.SESSION_CLOSED,
}


def money(value: Decimal | None) -> Decimal:
    """Sums come back from SQLite without their trailing zeros: 1000.5 is 1000.50."""
    return (value or ZERO).quantize(Decimal("0.01"))


def percent(part: int, whole: int) -> Decimal:
    if not whole:
        return Decimal("0.0")
    return (Decimal(part) * 100 / Decimal(whole)).quantize(ONE_DECIMAL, ROUND_HALF_UP)


def hours_between(start: datetime.datetime, end: datetime.datetime) -> Decimal:
    seconds = (end - start) // datetime.timedelta(seconds=1)
    return (Decimal(seconds) / 3600).quantize(ONE_DECIMAL, ROUND_HALF_UP)


@dataclass
class SessionAnalytics:
    date_from: datetime.date | None
    date_to: datetime.date | None
    sessions_by_status: list[dict[str, Any]] = field(default_factory=list)
    exception_rate: dict[str, Any] = field(default_factory=dict)
    exports_per_week: list[dict[str, Any]] = field(default_factory=list)
    time_to_first_export: dict[str, Any] = field(default_factory=dict)
    operator_activity: list[dict[str, Any]] = field(default_factory=list)


def session_analytics(
    *,
    engagements: QuerySet[Engagement],
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> SessionAnalytics:
    sessions = occurred_between(
        ProcessingSession.objects.filter(engagement__in=engagements),
        date_from,
        date_to,
        field_name="created_at",
    )
    return SessionAnalytics(
        date_from=date_from,
        date_to=date_to,
        sessions_by_status=sessions_by_status(sessions),
        exception_rate=exception_rate(sessions),
        exports_per_week=exports_per_week(engagements, date_from, date_to),
        time_to_first_export=time_to_first_export(sessions),
        operator_activity=operator_activity(engagements, date_from, date_to),
    )


def sessions_by_status(sessions: QuerySet[ProcessingSession]) -> list[dict[str, Any]]:
    """Every status, zeros included, so a chart always has the same bars."""
    counts = dict(
        sessions.order_by().values("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return [
        {"status": value, "label": str(label), "count": counts.get(value, 0)}
        for value, label in ProcessingSession.Status.choices
    ]


def exception_rate(sessions: QuerySet[ProcessingSession]) -> dict[str, Any]:
    """Share of employees that are not export-ready (an exception), per session and overall."""
    rows = (
        sessions.select_related("engagement")
        .annotate(
            employees=Count("revisions"),
            exceptions=Count("revisions", filter=Q(revisions__status__in=EXCEPTION_STATUSES)),
        )
        .order_by("created_at", "pk")
    )
    sessions_listed = list(rows)
    # SPEC §14: the card lines no receipt is paired with, per session.
    unmatched = session_unmatched_totals(session.pk for session in sessions_listed)
    per_session: list[dict[str, Any]] = [
        {
            "session_id": session.pk,
            "session": session.name,
            "engagement": session.engagement.name,
            "employees": session.employees,
            "exceptions": session.exceptions,
            "rate_percent": percent(session.exceptions, session.employees),
            "unmatched_charges": unmatched.get(session.pk, (0, ZERO))[0],
            "unmatched_charges_amount": unmatched.get(session.pk, (0, ZERO))[1],
        }
        for session in sessions_listed
    ]
    employees = sum(row["employees"] for row in per_session)
    exceptions = sum(row["exceptions"] for row in per_session)
    return {
        "employees": employees,
        "exceptions": exceptions,
        "rate_percent": percent(exceptions, employees),
        "unmatched_charges": sum(row["unmatched_charges"] for row in per_session),
        "unmatched_charges_amount": sum(
            (row["unmatched_charges_amount"] for row in per_session), ZERO
        ),
        "sessions": per_session,
    }


def _week_start(moment: datetime.datetime | datetime.date) -> datetime.date:
    if isinstance(moment, datetime.datetime):
        return timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()
    return moment


def exports_per_week(
    engagements: QuerySet[Engagement],
    date_from: datetime.date | None,
    date_to: datetime.date | None,
) -> list[dict[str, Any]]:
    """Per ISO week (Monday): batches of each kind, and for the pvault batches that stand
    (not void) the employees and the card amount they carried, plus the net adjustment
    pVault received (what its running total moved by)."""
    batches = occurred_between(
        ExportBatch.objects.filter(session__engagement__in=engagements),
        date_from,
        date_to,
        field_name="created_at",
    )
    standing = Q(export_type=ExportBatch.ExportType.PVAULT, status=ExportBatch.Status.ACTIVE)
    weeks = (
        batches.annotate(week=TruncWeek("created_at"))
        .order_by()
        .values("week")
        .annotate(
            pvault_batches=Count("pk", filter=Q(export_type=ExportBatch.ExportType.PVAULT)),
            exceptions_batches=Count("pk", filter=Q(export_type=ExportBatch.ExportType.EXCEPTIONS)),
            void_batches=Count("pk", filter=Q(status=ExportBatch.Status.VOID)),
            employees_exported=Sum("employee_count", filter=standing),
            amount_exported=Sum("total_amount", filter=standing),
        )
    )
    adjustments = _adjustments_per_week(batches.filter(standing))
    rows = []
    for week in weeks:
        start = _week_start(week["week"])
        rows.append(
            {
                "week_start": start,
                "pvault_batches": week["pvault_batches"],
                "exceptions_batches": week["exceptions_batches"],
                "void_batches": week["void_batches"],
                "employees_exported": week["employees_exported"] or 0,
                "amount_exported": money(week["amount_exported"]),
                "net_adjustment": money(adjustments.get(start)),
            }
        )
    return sorted(rows, key=lambda row: row["week_start"])


def _adjustments_per_week(batches: QuerySet[ExportBatch]) -> dict[datetime.date, Decimal]:
    lines = (
        ExportLine.objects.filter(batch__in=batches)
        .annotate(week=TruncWeek("batch__created_at"))
        .order_by()
        .values("week")
        .annotate(total=Sum("adjustment_amount"))
    )
    return {_week_start(row["week"]): row["total"] or ZERO for row in lines}


def time_to_first_export(sessions: QuerySet[ProcessingSession]) -> dict[str, Any]:
    """Hours from a session's creation to its first pvault batch (a later void does not
    undo the fact that it went out)."""
    rows = (
        sessions.select_related("engagement")
        .annotate(
            first_export_at=Min(
                "export_batches__created_at",
                filter=Q(export_batches__export_type=ExportBatch.ExportType.PVAULT),
            )
        )
        .order_by("created_at", "pk")
    )
    per_session = [
        {
            "session_id": session.pk,
            "session": session.name,
            "engagement": session.engagement.name,
            "created_at": session.created_at,
            "first_export_at": session.first_export_at,
            "hours": (
                hours_between(session.created_at, session.first_export_at)
                if session.first_export_at
                else None
            ),
        }
        for session in rows
    ]
    return {**_hours_summary([row["hours"] for row in per_session]), "sessions": per_session}


def _hours_summary(values: list[Decimal | None]) -> dict[str, Any]:
    hours = sorted(value for value in values if value is not None)
    if not hours:
        return {
            "exported_sessions": 0,
            "not_exported": len(values),
            "average_hours": None,
            "median_hours": None,
            "max_hours": None,
        }
    middle = len(hours) // 2
    median = hours[middle] if len(hours) % 2 else (hours[middle - 1] + hours[middle]) / 2
    return {
        "exported_sessions": len(hours),
        "not_exported": len(values) - len(hours),
        "average_hours": (sum(hours, Decimal(0)) / len(hours)).quantize(ONE_DECIMAL, ROUND_HALF_UP),
        "median_hours": median.quantize(ONE_DECIMAL, ROUND_HALF_UP),
        "max_hours": hours[-1],
    }


def operator_activity(
    engagements: QuerySet[Engagement],
    date_from: datetime.date | None,
    date_to: datetime.date | None,
) -> list[dict[str, Any]]:
    """What each person did (events they are the actor of), busiest first."""
    events = occurred_between(
        ActivityEvent.objects.filter(engagement__in=engagements, actor__isnull=False),
        date_from,
        date_to,
    )
    counts = {name: Count("pk", filter=Q(verb=verb)) for name, verb in ACTIVITY_VERBS.items()}
    rows = (
        events.order_by()
        .values("actor_id", "actor__username")
        .annotate(events=Count("pk"), last_activity=Max("occurred_at"), **counts)
        .order_by("-events", "actor__username")
    )
    return [
        {"user_id": row.pop("actor_id"), "username": row.pop("actor__username"), **row}
        for row in rows
    ]


def analytics_engagements_for(user: Any) -> QuerySet[Engagement] | None:
    """Staff see every engagement; operators the engagements they operate; anyone else
    (viewers only, or nobody) gets None: no analytics."""
    if user.is_authenticated and user.is_staff:
        return Engagement.objects.all()
    operated = Engagement.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.OPERATOR
    )
    return operated if operated.exists() else None


# --- CSV tables: header and rows of each table the page shows ---------------------------------


def _status_table(result: SessionAnalytics) -> tuple[list[str], list[list[Any]]]:
    return ["status", "sessions"], [
        [row["status"], row["count"]] for row in result.sessions_by_status
    ]


def _exception_table(result: SessionAnalytics) -> tuple[list[str], list[list[Any]]]:
    header = [
        "session_id", "session", "engagement", "employees", "exceptions", "rate_percent",
        "unmatched_charges", "unmatched_charges_amount",
    ]  # fmt: skip
    rows = [[row[name] for name in header] for row in result.exception_rate["sessions"]]
    overall = result.exception_rate
    rows.append(
        [
            "",
            "All sessions",
            "",
            overall["employees"],
            overall["exceptions"],
            overall["rate_percent"],
            overall["unmatched_charges"],
            overall["unmatched_charges_amount"],
        ]
    )
    return header, rows


def _exports_table(result: SessionAnalytics) -> tuple[list[str], list[list[Any]]]:
    header = [
        "week_start",
        "pvault_batches",
        "exceptions_batches",
        "void_batches",
        "employees_exported",
        "amount_exported",
        "net_adjustment",
    ]
    return header, [[row[name] for name in header] for row in result.exports_per_week]


def _first_export_table(result: SessionAnalytics) -> tuple[list[str], list[list[Any]]]:
    header = ["session_id", "session", "engagement", "created_at", "first_export_at", "hours"]
    rows = []
    for row in result.time_to_first_export["sessions"]:
        rows.append(
            [
                row["session_id"],
                row["session"],
                row["engagement"],
                row["created_at"].isoformat(),
                row["first_export_at"].isoformat() if row["first_export_at"] else "",
                "" if row["hours"] is None else row["hours"],
            ]
        )
    return header, rows


def _activity_table(result: SessionAnalytics) -> tuple[list[str], list[list[Any]]]:
    header = ["username", "events", *ACTIVITY_VERBS, "last_activity"]
    rows = [
        [*(row[name] for name in header[:-1]), row["last_activity"].isoformat()]
        for row in result.operator_activity
    ]
    return header, rows


CSV_TABLES = {
    "sessions-by-status": _status_table,
    "exception-rate": _exception_table,
    "exports-per-week": _exports_table,
    "time-to-first-export": _first_export_table,
    "operator-activity": _activity_table,
}
