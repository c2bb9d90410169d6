"""Reads for pages and the API: session lists with their figures. Access rules live in
sessions_app.access, the receipt lines in effect in sessions_app.versions; both stay importable
from here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery

from exports.models import ExportBatch
from exports.selectors import annotate_change
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
        receipt_file_versions=Subquery(latest_version.values("version")[:1]),
        last_receipt_upload=Subquery(latest_version.values("uploaded_at")[:1]),
        export_count=Subquery(
            exports.order_by().values("session").annotate(n=Count("pk")).values("n")[:1]
        ),
        last_export_at=Subquery(
            exports.order_by().values("session").annotate(at=Max("created_at")).values("at")[:1]
        ),
    )


def employee_rows(
    session: ProcessingSession,
    *,
    search: str = "",
    status: str = "",
    change: str = "",
    exported: bool | None = None,
    ordering: Sequence[str] = ("employee_id",),
) -> QuerySet[EmployeeRevision]:
    """The session's employees filtered as SPEC §13 lists them, with `change` computed in
    SQL: the one filter the page and the API both read (each parses its own query string)."""
    revisions = annotate_change(
        EmployeeRevision.objects.filter(session=session).select_related(
            "last_export_batch", "resolved_by"
        )
    )
    if status:
        revisions = revisions.filter(status=status)
    if change:
        revisions = revisions.filter(change_kind=change)  # type: ignore[misc]
    if exported is not None:
        revisions = revisions.filter(exported_car_amount__isnull=not exported)
    if search:
        revisions = revisions.filter(
            Q(employee_id__icontains=search) | Q(employee_name__icontains=search)
        )
    return revisions.order_by(*ordering)


__all__ = [
    "active_job_for",
    "check_engagement_access",
    "effective_receipt_version_numbers",
    "employee_rows",
    "engagements_for_user",
    "get_engagement_for",
    "get_session_for",
    "is_staff",
    "receipt_lines_in_effect",
    "role_in",
    "session_for",
    "session_list_for_user",
    "with_session_figures",
]
