"""An operator's manual match and unmatch (SPEC §14), the one implementation behind the
page, the API and any script.

Both lock the session row (as a recalculation's apply does), refuse a closed session and a
stale view (the caller sends the lines `version` it saw), record the decision, pair the
employee again exactly as the next recalculation will, and write an audit event."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import InvalidState, StaleVersion, ValidationFailed
from core.locking import ensure_open, lock
from matching.identity import (
    LineIdentity,
    card_identities,
    card_line_values,
    receipt_identities,
    receipt_line_values,
)
from matching.models import LinePair, ManualDecision
from matching.pairing import employee_matching_store, receipt_ordinals
from matching.selectors import EmployeeLines, employee_lines, lines_version
from sessions_app.models import ProcessingSession, ReceiptVersion
from sessions_app.versions import effective_receipt_version_numbers

NOTE_LENGTH = 2000


def applied_receipt_version_ids(session: ProcessingSession) -> list[int]:
    """The receipts versions the stored results reflect (a preview waiting for confirmation
    is not one of them)."""
    numbers = effective_receipt_version_numbers(session)
    return list(
        ReceiptVersion.objects.filter(session=session, version__in=numbers).values_list(
            "pk", flat=True
        )
    )


def lines_match(
    *,
    session: ProcessingSession,
    employee_id: str,
    card_line_id: int,
    receipt_line_id: int,
    note: str,
    actor: Any,
    expected_version: int | None = None,
) -> EmployeeLines:
    """Pair a card line with a receipt line of the same employee by hand, whatever their
    amounts. Refused (409) when either line is already paired: unmatch it first."""
    note = _note(note, required=True)
    card_line_id, receipt_line_id = _line_id(card_line_id), _line_id(receipt_line_id)
    with transaction.atomic():
        session = lock(session)
        ensure_open(session)
        _ensure_fresh(session, employee_id, expected_version)
        version_ids = applied_receipt_version_ids(session)
        card = _card_identity(session, employee_id, card_line_id)
        receipt = _receipt_identity(session, employee_id, receipt_line_id, version_ids)
        _ensure_unpaired(session, employee_id, card_line_id, receipt_line_id, version_ids)
        decision = _decision_take(
            session,
            employee_id=employee_id,
            card=(card_line_id, card),
            receipt=(receipt_line_id, receipt),
            note=note,
            actor=actor,
            version_ids=version_ids,
        )
        activity_event_record(
            verb=ActivityEvent.Verb.LINES_MATCHED,
            message=(
                f"{employee_id}: card line {card.date or 'undated'} {card.amount} matched by "
                f"hand with receipt {receipt.text or receipt.date or ''} {receipt.amount}: {note}"
            ),
            actor=actor,
            session=session,
            details=_details(decision),
        )
        return employee_lines(session=session, employee_id=employee_id)


def lines_unmatch(
    *,
    session: ProcessingSession,
    employee_id: str,
    card_line_id: int,
    note: str,
    actor: Any,
    expected_version: int | None = None,
) -> EmployeeLines:
    """Undo the pair of a card line (automatic or manual). The card line stays out of the
    automatic rounds until it is matched by hand."""
    note = _note(note, required=False)
    card_line_id = _line_id(card_line_id)
    with transaction.atomic():
        session = lock(session)
        ensure_open(session)
        _ensure_fresh(session, employee_id, expected_version)
        version_ids = applied_receipt_version_ids(session)
        card = _card_identity(session, employee_id, card_line_id)
        pair = (
            LinePair.objects.of_session(session)
            .filter(employee_id=employee_id, card_line_id=card_line_id)
            .first()
        )
        if pair is None:
            raise InvalidState(f"Card line {card_line_id} of {employee_id} is not paired.")
        decision = _decision_take(
            session,
            employee_id=employee_id,
            card=(card_line_id, card),
            receipt=None,
            note=note,
            actor=actor,
            version_ids=version_ids,
        )
        activity_event_record(
            verb=ActivityEvent.Verb.LINES_UNMATCHED,
            message=(
                f"{employee_id}: card line {card.date or 'undated'} {card.amount} unmatched "
                f"by hand (was {pair.get_rule_display().lower()})" + (f": {note}" if note else "")
            ),
            actor=actor,
            session=session,
            details={**_details(decision), "previous_rule": pair.rule},
        )
        return employee_lines(session=session, employee_id=employee_id)


def _decision_take(
    session: ProcessingSession,
    *,
    employee_id: str,
    card: tuple[int, LineIdentity],
    receipt: tuple[int, LineIdentity] | None,
    note: str,
    actor: Any,
    version_ids: list[int],
) -> ManualDecision:
    """Record a match (with `receipt`) or an unmatch of a card line in place of its earlier
    decision, and pair the employee again with it."""
    card_line_id, card_identity = card
    kind = ManualDecision.Kind.MATCH if receipt else ManualDecision.Kind.UNMATCH
    ManualDecision.objects.filter(
        session=session, card_line_id=card_line_id, ended_at__isnull=True
    ).update(ended_reason=kind.label.lower(), ended_at=timezone.now())
    receipt_fields = {}
    if receipt is not None:
        receipt_line_id, receipt_identity = receipt
        receipt_fields = {
            "receipt_line_id": receipt_line_id,
            "receipt_date": receipt_identity.date,
            "receipt_amount": receipt_identity.amount,
            "receipt_ref": receipt_identity.text,
            "receipt_occurrence": receipt_identity.occurrence,
        }
    decision = ManualDecision.objects.create(
        session=session,
        employee_id=employee_id,
        kind=kind,
        card_line_id=card_line_id,
        card_date=card_identity.date,
        card_amount=card_identity.amount,
        card_merchant=card_identity.text,
        card_occurrence=card_identity.occurrence,
        note=note,
        decided_by=_user(actor),
        **receipt_fields,
    )
    employee_matching_store(session, employee_id=employee_id, version_ids=version_ids, actor=actor)
    return decision


def _note(note: str | None, *, required: bool) -> str:
    note = (note or "").strip()
    if required and not note:
        raise ValidationFailed("A match by hand needs a note saying why.")
    if len(note) > NOTE_LENGTH:
        raise ValidationFailed(f"The note is longer than {NOTE_LENGTH} characters.")
    return note


def _ensure_fresh(session: ProcessingSession, employee_id: str, expected: int | None) -> None:
    if expected is None:
        return
    current = lines_version(session=session, employee_id=employee_id)
    if current != int(expected):
        last = (
            ManualDecision.objects.filter(session=session, employee_id=employee_id)
            .select_related("decided_by")
            .order_by("-decided_at", "-id")
            .first()
        )
        who = last.decided_by.get_username() if last and last.decided_by else "someone"
        when = f"{last.decided_at:%Y-%m-%d %H:%M}" if last else "recently"
        raise StaleVersion(
            f"The lines of {employee_id} were changed by {who} at {when} after you opened "
            f"them (version {current}, you saw {expected}). Reload and try again.",
            details={"current_version": current, "changed_by": who, "changed_at": when},
        )


def _card_identity(session: ProcessingSession, employee_id: str, line_id: int) -> LineIdentity:
    identities = card_identities(card_line_values(session.pk, [employee_id]))
    return _identity(identities, line_id, f"{employee_id} has no card line {line_id}.")


def _receipt_identity(
    session: ProcessingSession, employee_id: str, line_id: int, version_ids: list[int]
) -> LineIdentity:
    identities = receipt_identities(receipt_line_values(session.pk, [employee_id], version_ids))
    return _identity(identities, line_id, f"{employee_id} has no receipt line {line_id} in effect.")


def _line_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{value!r} is not a line id.") from None


def _identity(identities: dict[LineIdentity, int], line_id: int, missing: str) -> LineIdentity:
    for identity, found in identities.items():
        if found == line_id:
            return identity
    raise ValidationFailed(missing)


def _ensure_unpaired(
    session: ProcessingSession,
    employee_id: str,
    card_line_id: int,
    receipt_line_id: int,
    version_ids: list[int],
) -> None:
    pairs = LinePair.objects.of_session(session).of_employee(session.pk, employee_id)
    ordinals = receipt_ordinals(session.pk, {employee_id}, version_ids)
    by_place = {place: line for line, place in ordinals.items()}
    taken = (
        pairs.filter(card_line_id=card_line_id).first()
        or pairs.filter(
            Q(receipt_ordinal=ordinals.get(receipt_line_id))
            | Q(receipt_ordinal__isnull=True, receipt_line_id=receipt_line_id)
        ).first()
    )
    if taken is not None:
        receipt_line = (
            by_place.get(taken.receipt_ordinal, taken.receipt_line_id)
            if taken.receipt_ordinal is not None
            else taken.receipt_line_id
        )
        raise InvalidState(
            f"Card line {taken.card_line_id} is already paired with receipt line "
            f"{receipt_line} ({taken.get_rule_display().lower()}): unmatch it first.",
            details={
                "card_line": taken.card_line_id,
                "receipt_line": receipt_line,
                "rule": taken.rule,
            },
        )


def _details(decision: ManualDecision) -> dict[str, Any]:
    return {
        "employee_id": decision.employee_id,
        "decision": decision.pk,
        "card_line": decision.card_line_id,
        "card_amount": str(decision.card_amount),
        "receipt_line": decision.receipt_line_id,
        "receipt_amount": None if decision.receipt_amount is None else str(decision.receipt_amount),
        "note": decision.note,
    }


def _user(actor: Any) -> Any:
    return actor if actor is not None and actor.is_authenticated else None
