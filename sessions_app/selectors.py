"""Reads for pages and the API: session lists with their figures. Access rules live in
sessions_app.access, the receipt lines in effect in sessions_app.versions; both stay importable
from here."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery, Sum

from exports.models import ExportBatch
from recalc.selectors import active_job_for
from sessions_app.access import (
    check_engagement_access,
    engagements_for_user,
    get_engagement_for,
    get_session_for,
    is_staff,
    role_in,
    session_for,
)
from sessions_app.models import (
    ZERO,
    EmployeeRevision,
    ProcessingSession,
    ReceiptVersion,
)
from sessions_app.versions import effective_receipt_version_numbers, receipt_lines_in_effect


def session_list_for_user(
    user: Any, *, status: str = "", engagement: str = "", search: str = ""
) -> QuerySet[ProcessingSession]:
    """Sessions with the counts a card or an API row shows, in one query."""
    sessions = ProcessingSession.objects.filter(engagement__in=engagements_for_user(user))
    if status:
        sessions = sessions.filter(status=status)
    if engagement:
        sessions = sessions.filter(
            Q(engagement__slug=engagement)
            | Q(
                engagement__pk=int(engagement)
                if engagement.isascii() and engagement.isdigit()
                else None
            )
        )
    if search:
        sessions = sessions.filter(
            Q(name__icontains=search) | Q(engagement__name__icontains=search)
        )
    return with_session_figures(sessions.select_related("engagement", "created_by"))


def with_session_figures(sessions: QuerySet[ProcessingSession]) -> QuerySet[ProcessingSession]:
    ready = Q(revisions__status__in=EmployeeRevision.EXPORT_READY)
    latest_version = ReceiptVersion.objects.filter(session=OuterRef("pk")).order_by("-version")

    exports = ExportBatch.objects.filter(session=OuterRef("pk"), status=ExportBatch.Status.ACTIVE)
    return sessions.annotate(
        employee_count=Count("revisions", distinct=True),
        matched_count=Count("revisions", filter=ready, distinct=True),
        # revisions is the only join: the sums are not multiplied by another relation.
        card_total=Sum("revisions__car_amount"),
        exception_amount=Sum("revisions__car_amount", filter=~ready),
        receipt_file_versions=Subquery(latest_version.values("version")[:1]),
        last_receipt_upload=Subquery(latest_version.values("uploaded_at")[:1]),
        export_count=Subquery(
            exports.order_by().values("session").annotate(n=Count("pk")).values("n")[:1]
        ),
        last_export_at=Subquery(
            exports.order_by().values("session").annotate(at=Max("created_at")).values("at")[:1]
        ),
    )


def export_pending_filter() -> Q:
    """Export-ready employees pVault does not hold as they are now: never in a live pvault
    batch (new), or with amounts that moved since (changed). The delta export sends
    exactly these, and a session is not closed silently while any remain (SPEC §3)."""
    return Q(status__in=EmployeeRevision.EXPORT_READY) & (
        Q(exported_car_amount__isnull=True)
        | ~Q(car_amount=F("exported_car_amount"))
        | ~Q(receipt_amount=F("exported_receipt_amount"))
    )


@dataclass(frozen=True)
class ClosePending:
    """What closing now would leave behind: export-ready employees not sent to pVault
    (count, card amount) and the recalculation still queued or running, if any."""

    count: int
    amount: Decimal
    job: Any = None

    @property
    def blocks(self) -> bool:
        return bool(self.count) or self.job is not None

    def as_details(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "amount": str(self.amount),
            "job": self.job.pk if self.job is not None else None,
            "job_status": self.job.status if self.job is not None else None,
        }


def close_pending(session: ProcessingSession) -> ClosePending:
    figures = (
        EmployeeRevision.objects.filter(session=session)
        .filter(export_pending_filter())
        .aggregate(count=Count("pk"), amount=Sum("car_amount"))
    )
    amount = (figures["amount"] or ZERO).quantize(Decimal("0.01"))
    return ClosePending(count=figures["count"], amount=amount, job=active_job_for(session))


def session_currency(session: ProcessingSession) -> str:
    """The ISO code amounts of this session are in (the engagement's, SPEC §15)."""
    return session.engagement.currency or settings.DEFAULT_CURRENCY


__all__ = [
    "ClosePending",
    "active_job_for",
    "check_engagement_access",
    "close_pending",
    "effective_receipt_version_numbers",
    "engagements_for_user",
    "export_pending_filter",
    "get_engagement_for",
    "get_session_for",
    "is_staff",
    "receipt_lines_in_effect",
    "role_in",
    "session_currency",
    "session_for",
    "session_list_for_user",
    "with_session_figures",
]
