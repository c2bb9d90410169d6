"""The weekly report (SPEC §16): §11 figures for the past week, open sessions with their
proof and unmatched charges, exports made; a CSV attached; once a week per subscriber."""

from __future__ import annotations

import csv
import datetime
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from audit.analytics import session_analytics
from audit.models import ActivityEvent
from audit.services import activity_event_record
from chasing.formatting import money
from chasing.models import ReportSubscription, WeeklyReportDelivery
from chasing.selectors import subscriptions_for
from chasing.services.compose import ComposedEmail, compose, outbound_email_create
from chasing.services.delivery import outbound_email_enqueue
from exports.models import ExportBatch
from exports.selectors import session_proof
from matching.selectors import session_unmatched_totals
from sessions_app.models import ZERO, Engagement, ProcessingSession

CSV_HEADER = [
    "session",
    "period_start",
    "period_end",
    "status",
    "statement_total",
    "exported",
    "pending",
    "exceptions",
    "balanced",
    "unmatched_charges",
    "unmatched_amount",
]


@dataclass
class WeeklyReport:
    engagement: Engagement
    week_start: datetime.date
    week_end: datetime.date  # inclusive
    analytics: Any
    open_sessions: list[dict[str, Any]]
    exports: list[ExportBatch]

    @property
    def subject(self) -> str:
        return (
            f"Closebook weekly report · {self.engagement.name} · "
            f"{self.week_start:%Y-%m-%d} to {self.week_end:%Y-%m-%d}"
        )

    @property
    def csv_name(self) -> str:
        return f"closebook-{self.engagement.slug}-week-{self.week_start:%Y-%m-%d}.csv"


def past_week(now: datetime.datetime) -> tuple[datetime.date, datetime.date]:
    """The seven days before today (local time): run on a Monday, last Monday to Sunday."""
    today = timezone.localtime(now).date()
    return today - datetime.timedelta(days=7), today - datetime.timedelta(days=1)


def weekly_report_build(
    *, engagement: Engagement, now: datetime.datetime | None = None
) -> WeeklyReport:
    week_start, week_end = past_week(now or timezone.now())
    engagements = Engagement.objects.filter(pk=engagement.pk)
    analytics = session_analytics(engagements=engagements, date_from=week_start, date_to=week_end)
    exports = list(
        ExportBatch.objects.filter(
            session__engagement=engagement,
            created_at__date__gte=week_start,
            created_at__date__lte=week_end,
        )
        .select_related("session", "exported_by")
        .order_by("created_at")
    )
    return WeeklyReport(
        engagement=engagement,
        week_start=week_start,
        week_end=week_end,
        analytics=analytics,
        open_sessions=_open_sessions(engagement),
        exports=exports,
    )


def _open_sessions(engagement: Engagement) -> list[dict[str, Any]]:
    """Each open session with its proof and the number and amount of its unmatched charges."""
    sessions = list(
        ProcessingSession.objects.filter(engagement=engagement)
        .exclude(status=ProcessingSession.Status.CLOSED)
        .select_related("engagement")
        .order_by("-period_start", "name")
    )
    unmatched = session_unmatched_totals(session.pk for session in sessions)
    return [
        {
            "session": session,
            "proof": session_proof(session),
            "unmatched_charges": unmatched.get(session.pk, (0, ZERO))[0],
            "unmatched_amount": unmatched.get(session.pk, (0, ZERO))[1],
        }
        for session in sessions
    ]


def weekly_report_csv(report: WeeklyReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in report.open_sessions:
        session, proof = row["session"], row["proof"]
        writer.writerow(
            [
                _safe_cell(session.name),
                session.period_start.isoformat(),
                session.period_end.isoformat(),
                session.get_status_display(),
                _plain(proof.statement_total),
                _plain(proof.exported),
                _plain(proof.pending),
                _plain(proof.exceptions),
                "yes" if proof.balanced else "no",
                row["unmatched_charges"],
                _plain(row["unmatched_amount"]),
            ]
        )
    return out.getvalue()


def _plain(value: Decimal) -> str:
    return f"{value:.2f}"


def _safe_cell(text: str) -> str:
    """CSV injection: a cell a spreadsheet would read as a formula is neutralised."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def weekly_report_compose(report: WeeklyReport) -> ComposedEmail:
    composed = compose("weekly_report", report.subject, report_context(report))
    return ComposedEmail(
        subject=composed.subject,
        text_body=composed.text_body,
        html_body=composed.html_body,
        attachment_name=report.csv_name,
        attachment_content=weekly_report_csv(report),
    )


def report_context(report: WeeklyReport) -> dict[str, Any]:
    """What the email and the preview page show, amounts already in the money format."""
    analytics = report.analytics
    exception = analytics.exception_rate
    return {
        "report": report,
        "sessions_by_status": analytics.sessions_by_status,
        "exception_rate": exception,
        "exports_per_week": [
            {
                **row,
                "amount_exported": money(row["amount_exported"]),
                "net_adjustment": money(row["net_adjustment"]),
            }
            for row in analytics.exports_per_week
        ],
        "time_to_first_export": analytics.time_to_first_export,
        "operator_activity": analytics.operator_activity,
        "open_sessions": [
            {
                "name": row["session"].name,
                "status": row["session"].get_status_display(),
                "statement_total": money(row["proof"].statement_total),
                "exported": money(row["proof"].exported),
                "pending": money(row["proof"].pending),
                "exceptions": money(row["proof"].exceptions),
                "balanced": row["proof"].balanced,
                "unmatched_charges": row["unmatched_charges"],
                "unmatched_amount": money(row["unmatched_amount"]),
            }
            for row in report.open_sessions
        ],
        "exports": [
            {
                "batch_code": batch.batch_code,
                "session": batch.session.name,
                "type": batch.get_export_type_display(),
                "status": batch.get_status_display(),
                "employees": batch.employee_count,
                "amount": money(batch.total_amount),
                "created_at": batch.created_at,
            }
            for batch in report.exports
        ],
    }


def weekly_reports_send(*, now: datetime.datetime | None = None) -> int:
    """The weekly schedule: each subscriber gets the past week's report once, however often
    the schedule runs. Returns how many reports were queued."""
    now = now or timezone.now()
    week_start, _ = past_week(now)
    queued = 0
    engagements = Engagement.objects.filter(report_subscriptions__isnull=False).distinct()
    for engagement in engagements:
        this_week = WeeklyReportDelivery.objects.filter(
            subscription=OuterRef("pk"), week_start=week_start, scheduled=True
        )
        pending = subscriptions_for(engagement).exclude(Exists(this_week))
        if pending.exists():
            queued += _send_report(engagement, list(pending), now, scheduled=True, actor=None)
    return queued


def weekly_report_send_now(*, engagement: Engagement, actor: Any) -> int:
    """ "Send now": the past week's report to every subscriber at once, outside the schedule."""
    subscriptions = list(subscriptions_for(engagement))
    return _send_report(engagement, subscriptions, timezone.now(), scheduled=False, actor=actor)


def _send_report(
    engagement: Engagement,
    subscriptions: list[ReportSubscription],
    now: datetime.datetime,
    *,
    scheduled: bool,
    actor: Any,
) -> int:
    if not subscriptions:
        return 0
    report = weekly_report_build(engagement=engagement, now=now)
    composed = weekly_report_compose(report)
    sent = 0
    for subscription in subscriptions:
        try:
            with transaction.atomic():
                email = outbound_email_create(
                    engagement=engagement, to=subscription.email, composed=composed
                )
                WeeklyReportDelivery.objects.create(
                    subscription=subscription,
                    week_start=report.week_start,
                    scheduled=scheduled,
                    email=email,
                )
                outbound_email_enqueue(email)
        except IntegrityError:  # another worker queued this week's report first
            continue
        sent += 1
    activity_event_record(
        verb=ActivityEvent.Verb.WEEKLY_REPORT_SENT,
        message=(
            f"Weekly report for {report.week_start:%Y-%m-%d} to {report.week_end:%Y-%m-%d} "
            f"queued for {sent} subscriber{'' if sent == 1 else 's'}"
            f"{'' if scheduled else ' (sent now)'}."
        ),
        actor=actor,
        engagement=engagement,
        actor_label="" if actor is not None else "schedule",
        details={"week_start": report.week_start.isoformat(), "scheduled": scheduled},
    )
    return sent
