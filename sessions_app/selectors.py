"""Reads: who may see what, and the session figures pages and API show."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.http import Http404

from sessions_app.models import (
    ZERO,
    EmployeeRevision,
    Engagement,
    Membership,
    ProcessingSession,
    ReceiptLine,
    ReceiptVersion,
)


def is_staff(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def engagements_for_user(user: Any) -> QuerySet[Engagement]:
    if is_staff(user):
        return Engagement.objects.all()
    return Engagement.objects.filter(memberships__user=user)


def role_in(user: Any, engagement_id: int) -> str | None:
    """The user's role in an engagement; staff act as operators everywhere."""
    if is_staff(user):
        return Membership.Role.OPERATOR
    return (
        Membership.objects.filter(user=user, engagement_id=engagement_id)
        .values_list("role", flat=True)
        .first()
    )


def check_engagement_access(user: Any, engagement_id: int, *, write: bool) -> str:
    """404 for an engagement the user is not in (never a hint that it exists), 403 for a
    viewer asking to write."""
    role = role_in(user, engagement_id) if user.is_authenticated else None
    if role is None:
        raise Http404("No such engagement.")
    if write and role != Membership.Role.OPERATOR:
        raise PermissionDenied("Viewers can read and download, not change anything.")
    return role


def get_engagement_for(user: Any, slug_or_id: str | int, *, write: bool = False) -> Engagement:
    lookup = Q(slug=str(slug_or_id))
    if str(slug_or_id).isascii() and str(slug_or_id).isdigit():
        lookup |= Q(pk=int(slug_or_id))
    engagement = Engagement.objects.filter(lookup).first()
    if engagement is None:
        raise Http404("No such engagement.")
    check_engagement_access(user, engagement.pk, write=write)
    return engagement


def get_session_for(user: Any, pk: int | str, *, write: bool = False) -> ProcessingSession:
    try:
        session = ProcessingSession.objects.select_related("engagement").get(pk=int(pk))
    except (ProcessingSession.DoesNotExist, ValueError, TypeError):
        raise Http404("No such session.") from None
    check_engagement_access(user, session.engagement_id, write=write)
    return session


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
    from exports.models import ExportBatch

    exports = ExportBatch.objects.filter(session=OuterRef("pk"), status=ExportBatch.Status.ACTIVE)
    return sessions.annotate(
        employee_count=Count("revisions", distinct=True),
        matched_count=Count("revisions", filter=ready, distinct=True),
        receipt_file_versions=Subquery(latest_version.values("version")[:1]),
        last_receipt_upload=Subquery(latest_version.values("uploaded_at")[:1]),
        export_count=Subquery(
            exports.order_by().values("session").annotate(n=Count("pk")).values("n")[:1]
        ),
        last_export_at=Subquery(
            exports.order_by().values("session").annotate(at=Max("created_at")).values("at")[:1]
        ),
    )


def effective_receipt_version_numbers(
    session: ProcessingSession, *, including: ReceiptVersion | None = None, upto: int | None = None
) -> list[int]:
    """The receipt versions whose lines are in effect: the latest applied `replace` version
    and every applied `append` version after it. `including` counts a version that is being
    applied now; `upto` asks for the state as of an earlier version (rollback)."""
    versions = ReceiptVersion.objects.filter(session=session)
    applied = Q(state=ReceiptVersion.State.APPLIED)
    if including is not None:
        applied |= Q(pk=including.pk)
    versions = versions.filter(applied)
    if upto is not None:
        versions = versions.filter(version__lte=upto)
    rows = list(versions.order_by("version").values_list("version", "mode"))
    start = 0
    for index, (_, mode) in enumerate(rows):
        if mode == ReceiptVersion.Mode.REPLACE:
            start = index
    return [number for number, _ in rows[start:]]


def receipt_lines_in_effect(
    session: ProcessingSession, *, including: ReceiptVersion | None = None, upto: int | None = None
) -> QuerySet[ReceiptLine]:
    numbers = effective_receipt_version_numbers(session, including=including, upto=upto)
    return ReceiptLine.objects.filter(session=session, receipt_version__version__in=numbers)


def active_job_for(session: ProcessingSession) -> Any:
    from recalc.models import ACTIVE_JOB_STATUSES, RecalcJob

    return RecalcJob.objects.filter(session=session, status__in=ACTIVE_JOB_STATUSES).first()


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
