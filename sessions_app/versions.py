"""Which receipt lines are in effect: the one rule recalculation, rollback and the pages
share."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from sessions_app.models import ProcessingSession, ReceiptLine, ReceiptVersion


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
