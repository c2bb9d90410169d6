"""Reads behind the audit pages: the engagement log, a session's timeline, an employee's
revision history with diffs, and a session as it stood at a given moment."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Field, Q, QuerySet
from django.utils import timezone

from audit.models import ActivityEvent
from core.money import format_money
from exports.models import ExportBatch
from sessions_app.models import (
    ZERO,
    EmployeeRevision,
    Engagement,
    ProcessingSession,
    ReceiptVersion,
)


@dataclass(frozen=True)
class AuditLogFilters:
    actor_id: int | None = None
    verb: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    session_id: int | None = None


def day_start(day: datetime.date) -> datetime.datetime:
    """Midnight of a calendar day in the site's time zone: date filters mean local days."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def occurred_between(
    events: QuerySet[Any],
    date_from: datetime.date | None,
    date_to: datetime.date | None,
    *,
    field_name: str = "occurred_at",
) -> QuerySet[Any]:
    """Both ends inclusive, written as a half-open range so the time index is used."""
    if date_from is not None:
        events = events.filter(**{f"{field_name}__gte": day_start(date_from)})
    if date_to is not None:
        next_day = date_to + datetime.timedelta(days=1)
        events = events.filter(**{f"{field_name}__lt": day_start(next_day)})
    return events


def activity_events_for_engagement(
    engagement: Engagement, filters: AuditLogFilters | None = None
) -> QuerySet[ActivityEvent]:
    filters = filters or AuditLogFilters()
    events = ActivityEvent.objects.filter(engagement=engagement)
    if filters.actor_id is not None:
        events = events.filter(actor_id=filters.actor_id)
    if filters.verb:
        events = events.filter(verb=filters.verb)
    if filters.session_id is not None:
        events = events.filter(session_id=filters.session_id)
    events = occurred_between(events, filters.date_from, filters.date_to)
    return events.select_related("actor", "session").order_by("-occurred_at", "-id")


def audit_actors_for(engagement: Engagement) -> QuerySet[Any]:
    """Everyone who may appear in an engagement's log: its members and anyone who acted
    on it (staff included)."""
    acted = ActivityEvent.objects.filter(engagement=engagement, actor__isnull=False)
    return (
        get_user_model()
        .objects.filter(Q(memberships__engagement=engagement) | Q(pk__in=acted.values("actor")))
        .distinct()
        .order_by("username")
    )


def session_timeline(session: ProcessingSession) -> QuerySet[ActivityEvent]:
    """Oldest first: a timeline reads like the story of the session."""
    return (
        ActivityEvent.objects.filter(session=session)
        .select_related("actor")
        .order_by("occurred_at", "id")
    )


# --- Revision history -----------------------------------------------------------------------

REVISION_DIFF_FIELDS = [
    "employee_name",
    "car_amount",
    "receipt_amount",
    "difference",
    "status",
    "previous_car_amount",
    "previous_receipt_amount",
    "amount_changed",
    "receipt_version_processed",
    "resolution_note",
    "resolved_by",
    "exported_car_amount",
    "exported_receipt_amount",
    "last_export_batch",
    "exported_at",
]


MONEY_DIFF_FIELDS = frozenset(
    {
        "car_amount",
        "receipt_amount",
        "difference",
        "previous_car_amount",
        "previous_receipt_amount",
        "exported_car_amount",
        "exported_receipt_amount",
    }
)


@dataclass(frozen=True)
class FieldChange:
    """`old` and `new` in the shared money format for amounts; `shown_old` and `shown_new`
    add the session's currency, as every other amount on the pages reads."""

    field: str
    label: str
    old: str
    new: str
    currency: str = ""

    def _shown(self, text: str) -> str:
        if self.currency and self.field in MONEY_DIFF_FIELDS and text != "—":
            return f"{text} {self.currency}"
        return text

    @property
    def shown_old(self) -> str:
        return self._shown(self.old)

    @property
    def shown_new(self) -> str:
        return self._shown(self.new)


@dataclass
class RevisionStep:
    """One history row of an employee revision and what it changed from the one before."""

    history_id: int
    at: datetime.datetime
    user: str
    reason: str
    kind: str
    version: int
    status: str
    car_amount: Decimal
    receipt_amount: Decimal
    changes: list[FieldChange] = field(default_factory=list)


def _display(record: Any, name: str) -> str:
    value = getattr(record, name)
    if value is None or value == "":
        return "—"
    if name == "status":
        return str(EmployeeRevision.Status(value).label)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format_money(value)
    if isinstance(value, datetime.datetime):
        return f"{timezone.localtime(value):%Y-%m-%d %H:%M %Z}"
    return str(value)


def _field_changes(older: Any, newer: Any, currency: str = "") -> list[FieldChange]:
    changes = []
    for name in REVISION_DIFF_FIELDS:
        field = EmployeeRevision._meta.get_field(name)
        assert isinstance(field, Field)  # REVISION_DIFF_FIELDS names concrete fields only
        if getattr(older, field.attname) == getattr(newer, field.attname):
            continue
        label = str(field.verbose_name)
        old, new = _display(older, name), _display(newer, name)
        changes.append(FieldChange(name, label, old, new, currency))
    return changes


def revision_history(revision: EmployeeRevision) -> list[RevisionStep]:
    """Oldest first, each step with the fields it changed (old → new), amounts with the
    session's currency."""
    currency = revision.session.currency
    records = list(
        EmployeeRevision.history.filter(id=revision.pk)
        .select_related("history_user", "resolved_by", "last_export_batch")
        .order_by("history_date", "history_id")
    )
    steps = []
    previous = None
    for record in records:
        steps.append(
            RevisionStep(
                history_id=record.history_id,
                at=record.history_date,
                user=record.history_user.get_username() if record.history_user else "system",
                reason=record.history_change_reason or "",
                kind=record.get_history_type_display(),
                version=record.version,
                status=_display(record, "status"),
                car_amount=record.car_amount,
                receipt_amount=record.receipt_amount,
                changes=(
                    _field_changes(previous, record, currency) if previous is not None else []
                ),
            )
        )
        previous = record
    return steps


# --- A session as of a moment ---------------------------------------------------------------


@dataclass
class SessionSnapshot:
    at: datetime.datetime
    session: ProcessingSession | None
    changed_by: str = ""
    change_reason: str = ""
    revisions: list[EmployeeRevision] = field(default_factory=list)
    receipt_versions: list[Any] = field(default_factory=list)
    export_batches: list[Any] = field(default_factory=list)
    car_total: Decimal = ZERO
    receipt_total: Decimal = ZERO
    exception_count: int = 0

    @property
    def existed(self) -> bool:
        return self.session is not None


def session_as_of(session: ProcessingSession, at: datetime.datetime) -> SessionSnapshot:
    """The session, its employee revisions, receipt versions and export batches as the
    history tables held them at `at` (simple-history `as_of`)."""
    try:
        then = session.history.as_of(at)
    except ProcessingSession.DoesNotExist:
        return SessionSnapshot(at=at, session=None)
    record = then._history  # type: ignore[attr-defined]
    revisions = list(_as_of(EmployeeRevision, at, session_id=session.pk).order_by("employee_id"))
    snapshot = SessionSnapshot(
        at=at,
        session=then,
        changed_by=record.history_user.get_username() if record.history_user_id else "system",
        change_reason=record.history_change_reason or "",
        revisions=revisions,
        receipt_versions=list(
            _as_of(ReceiptVersion, at, session_id=session.pk).order_by("version")
        ),
        export_batches=_export_batches_as_of(session, at),
        car_total=sum((rev.car_amount for rev in revisions), ZERO),
        receipt_total=sum((rev.receipt_amount for rev in revisions), ZERO),
        exception_count=sum(1 for rev in revisions if not rev.is_export_ready),
    )
    return snapshot


def _as_of(model: Any, at: datetime.datetime, **filters: Any) -> Any:
    """`Model.history.as_of(at)` narrowed to some rows before the latest-of-each step, so a
    session's snapshot never scans the history of every other session."""
    return model.history.filter(history_date__lte=at, **filters).latest_of_each().as_instances()


def _export_batches_as_of(session: ProcessingSession, at: datetime.datetime) -> list[Any]:
    return list(_as_of(ExportBatch, at, session_id=session.pk).order_by("created_at", "id"))


# --- History attribution --------------------------------------------------------------------


@dataclass(frozen=True)
class UnattributedHistoryRow:
    model: str
    object_id: int
    history_id: int
    at: datetime.datetime
    missing: str  # "user", "reason" or "user and reason"


def tracked_history_models() -> list[Any]:
    return [Engagement, ProcessingSession, ReceiptVersion, EmployeeRevision, ExportBatch]


def history_rows_unattributed(
    *, since: datetime.datetime | None = None
) -> list[UnattributedHistoryRow]:
    """History rows that do not say who made the change or why: SPEC §8 wants both on
    every row a domain operation writes."""
    found = []
    for model in tracked_history_models():
        rows = model.history.filter(
            Q(history_user__isnull=True)
            | Q(history_change_reason="")
            | Q(history_change_reason__isnull=True)
        )
        if since is not None:
            rows = rows.filter(history_date__gte=since)
        for row in rows.order_by("history_date", "history_id").values(
            "id", "history_id", "history_date", "history_user_id", "history_change_reason"
        ):
            missing = [
                name
                for name, absent in (
                    ("user", row["history_user_id"] is None),
                    ("reason", not row["history_change_reason"]),
                )
                if absent
            ]
            found.append(
                UnattributedHistoryRow(
                    model=model._meta.label,
                    object_id=row["id"],
                    history_id=row["history_id"],
                    at=row["history_date"],
                    missing=" and ".join(missing),
                )
            )
    return found
