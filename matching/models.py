"""Line matching (SPEC §14): which card line is paired with which receipt line.

A recalculation rewrites the pairs and the unmatched lines of a session in its apply
transaction (matching.pairing); pages, API and exports read them as stored. The operator's
own decisions (manual pairs, manual unmatches) live in ManualDecision and outlast every
recalculation while their lines stay in effect.

Line identity across receipts versions: a receipt line of version N+1 is the same receipt as
a line of version N when it has the same employee, date, amount and receipt id, and the same
occurrence among the effective lines carrying those four values in (version, line number)
order. These are the fields SPEC §4 uses to recognise an appended duplicate, so a replace
upload of the complete report, an append upload and a rollback all keep the identity. Card
lines are recognised alike by employee, date, amount, merchant and occurrence in line-number
order (a replaced card statement keeps a decision when the charge is still on it)."""

from __future__ import annotations

from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from sessions_app.models import LINE_PARENT, MONEY, CardTransaction, ProcessingSession

# Pairs and unmatched lines are rewritten in bulk by every recalculation; like the
# statement lines, their parent is not a per-row foreign key check.
BULK_PARENT = LINE_PARENT


class StoredMatchingQuerySet(models.QuerySet):
    """Pairs and unmatched lines are stored in *generations* (matching.pairing). A
    recalculation writes only the employees whose lines or decisions changed, and lists them
    in MatchingScope under its generation: an employee's rows of an earlier generation are
    replaced from there on. A generation that pairs the whole session lists the session
    itself (no employee), and everything earlier is replaced. So a row is in effect at
    generation G when it was written at or before G, no later generation up to G lists its
    employee, and no later generation up to G paired the whole session. The session's
    `matching_generation` says which generation is in effect; readers ask for that one."""

    def of_session(self, session: ProcessingSession) -> Self:
        """The generation `session` names as it was loaded: a constant, so a query ordered
        like an index (the chase list) reads just the rows it shows."""
        return self.of_generation(session.pk, session.matching_generation)

    def of_generation(self, session_id: int, generation: int) -> Self:
        replaced = MatchingScope.objects.filter(
            session_id=session_id,
            employee_id=OuterRef("employee_id"),
            generation__gt=OuterRef("generation"),
            generation__lte=generation,
        )
        return (
            self.filter(session_id=session_id)
            ._written(generation, session_id, generation)
            .exclude(Exists(replaced))
        )

    def in_effect(self) -> Self:
        """The generation each row's session names now (a join with the session row)."""
        generation = F("session__matching_generation")
        outer = OuterRef("session__matching_generation")
        replaced = MatchingScope.objects.filter(
            session_id=OuterRef("session_id"),
            employee_id=OuterRef("employee_id"),
            generation__gt=OuterRef("generation"),
            generation__lte=outer,
        )
        return self._written(generation, OuterRef("session_id"), outer).exclude(Exists(replaced))

    def _written(self, generation: Any, session: Any, outer: Any) -> Self:
        """Written at or before `generation`, and not before the last generation up to it
        that paired the whole session."""
        whole = (
            MatchingScope.objects.filter(
                session_id=session, employee_id__isnull=True, generation__lte=outer
            )
            .order_by("-generation")
            .values("generation")[:1]
        )
        return self.filter(
            generation__lte=generation, generation__gte=Coalesce(Subquery(whole), Value(0))
        )


class LinePairQuerySet(StoredMatchingQuerySet):
    def of_employees(self, session_id: int, employee_ids: list[str]) -> Self:
        """These employees' pairs, through their card lines (the pairs' index)."""
        cards = CardTransaction.objects.filter(session_id=session_id, employee_id__in=employee_ids)
        return self.filter(
            session_id=session_id,
            card_line_id__in=cards.values("id"),
            employee_id__in=employee_ids,
        )

    def of_employee(self, session_id: int, employee_id: str) -> Self:
        return self.of_employees(session_id, [employee_id])


class Rule(models.TextChoices):
    MANUAL = "manual", "Matched by hand"
    SAME_DAY = "same_day", "Same amount, same day"
    NEAR_DATE = "near_date", "Same amount, dates within 3 days"
    AMOUNT_ONLY = "amount_only", "Same amount"


class ManualDecision(models.Model):
    """An operator's match (card line with receipt line) or unmatch (card line kept out of
    the automatic rounds). Active while `ended_at` is empty."""

    class Kind(models.TextChoices):
        MATCH = "match", "Matched by hand"
        UNMATCH = "unmatch", "Unmatched by hand"

    session = models.ForeignKey(
        ProcessingSession, on_delete=models.PROTECT, related_name="manual_line_decisions"
    )
    employee_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The card line as last seen, and its identity (see the module docstring).
    card_line_id = models.BigIntegerField(null=True, blank=True)
    card_date = models.DateField(null=True, blank=True)
    card_amount = models.DecimalField(**MONEY)
    card_merchant = models.CharField(max_length=300, blank=True)
    card_occurrence = models.PositiveIntegerField(default=1)
    # The receipt line of a match, as last seen, and its identity.
    receipt_line_id = models.BigIntegerField(null=True, blank=True)
    receipt_date = models.DateField(null=True, blank=True)
    receipt_amount = models.DecimalField(**MONEY, null=True, blank=True)
    receipt_ref = models.CharField(max_length=100, blank=True)
    receipt_occurrence = models.PositiveIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["session", "employee_id", "decided_at", "id"]
        indexes = [
            models.Index(fields=["session", "employee_id"], name="manual_decision_employee"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="unmatch") | Q(receipt_amount__isnull=False),
                name="manual_match_has_receipt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.employee_id}: {self.get_kind_display()}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


class LinePair(models.Model):
    """One card line paired with one receipt line of the effective receipts."""

    session = models.ForeignKey(ProcessingSession, related_name="line_pairs", **BULK_PARENT)
    generation = models.BigIntegerField(default=0)
    employee_id = models.CharField(max_length=100)
    card_line_id = models.BigIntegerField()
    # The receipt line as it was when paired, and its place among the employee's receipt
    # lines in effect in (version, line number) order. A later `replace` upload stores
    # every line again under new ids; an employee whose lines did not change keeps their
    # rows, and readers find the receipt line by its place (matching.selectors).
    receipt_line_id = models.BigIntegerField()
    receipt_ordinal = models.PositiveIntegerField(null=True, blank=True)
    rule = models.CharField(max_length=12, choices=Rule.choices)
    decision = models.ForeignKey(
        ManualDecision,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    objects = LinePairQuerySet.as_manager()

    class Meta:
        ordering = ["session", "employee_id", "id"]
        # By card line, not by employee: a bigint key costs a recalculation writing half a
        # million pairs far less than a text one. An employee's pairs are found through
        # their card lines (of_employees).
        indexes = [
            models.Index(
                fields=["session", "card_line_id", "generation"],
                name="line_pair_card_line_gen",
            )
        ]

    def __str__(self) -> str:
        return f"{self.employee_id}: {self.card_line_id} ↔ {self.receipt_line_id} ({self.rule})"


class UnmatchedLine(models.Model):
    """A card line without a receipt (a charge to chase) or a receipt line without a charge,
    copied with what the chase list shows so it reads one index range."""

    class Side(models.TextChoices):
        CARD = "card", "Charge without a receipt"
        RECEIPT = "receipt", "Receipt without a charge"

    session = models.ForeignKey(ProcessingSession, related_name="unmatched_lines", **BULK_PARENT)
    generation = models.BigIntegerField(default=0)
    side = models.CharField(max_length=7, choices=Side.choices)
    employee_id = models.CharField(max_length=100)
    # A receipt line's id, line number and version as they were when the row was written;
    # `ordinal` is its place among the employee's receipt lines in effect (see LinePair).
    line_id = models.BigIntegerField()
    line_number = models.PositiveIntegerField()
    version = models.PositiveIntegerField(null=True, blank=True)
    ordinal = models.PositiveIntegerField(null=True, blank=True)
    date = models.DateField(null=True, blank=True)
    merchant = models.CharField(max_length=300, blank=True)
    receipt_id = models.CharField(max_length=100, blank=True)
    amount = models.DecimalField(**MONEY)
    # Kept out of the automatic rounds by an operator's unmatch.
    held = models.BooleanField(default=False)

    objects = StoredMatchingQuerySet.as_manager()

    class Meta:
        ordering = ["session", "side", "employee_id", "date", "line_number"]
        # The chase list's whole order (line id breaks the last ties): its first page is
        # the index's first rows, with no sort of the session's unmatched lines.
        indexes = [
            models.Index(
                fields=[
                    "session", "side", "employee_id", "date", "line_number", "line_id",
                    "generation",
                ],
                name="unmatched_line_chase_gen",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.employee_id} {self.side} {self.amount}"


class MatchingScope(models.Model):
    """The employees a generation paired again (those whose lines or decisions changed since
    the generation it followed), or, with no employee, the whole session: from that
    generation on, their earlier rows are replaced (StoredMatchingQuerySet). The pairing
    statements join it too."""

    session = models.ForeignKey(ProcessingSession, related_name="+", **BULK_PARENT)
    generation = models.BigIntegerField()
    # NULL, not "", for the whole session: it must never equal a row's employee id.
    employee_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001

    class Meta:
        indexes = [
            models.Index(
                fields=["session", "employee_id", "generation"], name="matching_scope_employee"
            )
        ]

    def __str__(self) -> str:
        return f"{self.generation}: {self.employee_id or 'the whole session'}"
