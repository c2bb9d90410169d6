"""The stored pairing of a session equals SPEC §14 written out plainly, line by line, for
random lines: duplicate amounts on one day, missing dates, negative lines, shuffled storage
order. Σ unmatched card - Σ unmatched receipts = card total - receipts total, always."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.models import LinePair, UnmatchedLine
from matching.pairing import employee_matching_store, session_matching_store
from sessions_app.models import CardTransaction, ReceiptLine, ReceiptVersion
from tests.factories import ProcessingSessionFactory

pytestmark = pytest.mark.django_db

DAY0 = datetime.date(2026, 10, 1)


def reference_pairs(cards: list[dict[str, Any]], receipts: list[dict[str, Any]]) -> set[tuple]:
    """SPEC §14 as written: rounds over the still-unpaired lines; card lines by (date, line
    number; missing dates last); for each, the equal-amount receipt with the smallest date
    distance (missing = farther than any), then the earliest (version, line number)."""
    result = set()
    for employee in {line["employee_id"] for line in cards + receipts}:
        mine = [c for c in cards if c["employee_id"] == employee]
        free = [r for r in receipts if r["employee_id"] == employee]
        mine.sort(key=lambda c: (c["date"] is None, c["date"] or DAY0, c["line_number"]))
        for rule in ("same_day", "near_date", "amount_only"):
            for card in list(mine):
                candidates = []
                for receipt in free:
                    if receipt["amount"] != card["amount"]:
                        continue
                    both = card["date"] is not None and receipt["date"] is not None
                    distance = abs((card["date"] - receipt["date"]).days) if both else None
                    if rule == "same_day" and distance != 0:
                        continue
                    if rule == "near_date" and (distance is None or distance > 3):
                        continue
                    far = distance is None
                    candidates.append(
                        ((far, distance or 0, receipt["version"], receipt["line_number"]), receipt)
                    )
                if candidates:
                    chosen = min(candidates, key=lambda c: c[0])[1]
                    free.remove(chosen)
                    mine.remove(card)
                    result.add((employee, card["key"], chosen["key"], rule))
    return result


amounts = st.sampled_from(["10.00", "10.00", "25.50", "-4.99", "99.01", "0.01"]).map(Decimal)
dates = st.one_of(st.none(), st.integers(0, 12).map(lambda d: DAY0 + datetime.timedelta(d)))
line = st.fixed_dictionaries(
    {"employee_id": st.sampled_from(["E1", "E2", "E/3"]), "amount": amounts, "date": dates}
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    cards=st.lists(line, max_size=12),
    receipts=st.lists(st.tuples(line, st.sampled_from([1, 2])), max_size=12),
    seed=st.integers(0, 10**6),
)
def test_it_pairs_as_the_spec_says_whatever_the_storage_order(cards, receipts, seed):
    with transaction.atomic():
        session = ProcessingSessionFactory()
        v1 = ReceiptVersion.objects.create(session=session, version=1, sha256="a", mode="replace")
        v2 = ReceiptVersion.objects.create(session=session, version=2, sha256="b", mode="append")
        card_rows = [{**c, "key": f"c{n}", "line_number": n + 1} for n, c in enumerate(cards)]
        receipt_rows = [
            {**r, "key": f"r{n}", "line_number": n + 1, "version": version}
            for n, (r, version) in enumerate(receipts)
        ]
        # Stored in a random order: ids say nothing about the turn of a line.
        random.Random(seed).shuffle(card_rows)
        random.Random(seed + 1).shuffle(receipt_rows)
        ids = {}
        for row in card_rows:
            ids[CardTransaction.objects.create(
                session=session, line_number=row["line_number"], employee_id=row["employee_id"],
                amount=row["amount"], transaction_date=row["date"], merchant="SHOP",
            ).pk, "card"] = row["key"]  # fmt: skip
        for row in receipt_rows:
            ids[ReceiptLine.objects.create(
                session=session, receipt_version=v1 if row["version"] == 1 else v2,
                line_number=row["line_number"], employee_id=row["employee_id"],
                amount=row["amount"], receipt_date=row["date"],
            ).pk, "receipt"] = row["key"]  # fmt: skip

        outcome = session_matching_store(session, version_ids=[v1.pk, v2.pk])

        stored = {
            (p.employee_id, ids[p.card_line_id, "card"], ids[p.receipt_line_id, "receipt"], p.rule)
            for p in LinePair.objects.filter(session=session)
        }
        assert stored == reference_pairs(card_rows, receipt_rows)
        assert outcome.pairs == len(stored)
        unmatched = list(UnmatchedLine.objects.filter(session=session))
        paired = {(k, "card") for _, k, _, _ in stored} | {(k, "receipt") for _, _, k, _ in stored}
        every_line = {(v, side) for (_, side), v in ids.items()}
        assert {(ids[u.line_id, u.side], u.side) for u in unmatched} == every_line - paired
        for employee in {row["employee_id"] for row in card_rows + receipt_rows}:
            card_total = sum(
                (c["amount"] for c in card_rows if c["employee_id"] == employee), Decimal(0)
            )
            receipt_total = sum(
                (r["amount"] for r in receipt_rows if r["employee_id"] == employee), Decimal(0)
            )
            mine = [u for u in unmatched if u.employee_id == employee]
            unmatched_card = sum((u.amount for u in mine if u.side == "card"), Decimal(0))
            unmatched_receipt = sum((u.amount for u in mine if u.side == "receipt"), Decimal(0))
            assert unmatched_card - unmatched_receipt == card_total - receipt_total
        # An operator's decision pairs one employee again in Python: the same result.
        for employee in {row["employee_id"] for row in card_rows + receipt_rows}:
            employee_matching_store(session, employee_id=employee, version_ids=[v1.pk, v2.pk])
        again = {
            (p.employee_id, ids[p.card_line_id, "card"], ids[p.receipt_line_id, "receipt"], p.rule)
            for p in LinePair.objects.filter(session=session)
        }
        assert again == stored
        assert sorted(
            (u.side, u.line_id) for u in UnmatchedLine.objects.filter(session=session)
        ) == sorted((u.side, u.line_id) for u in unmatched)
        transaction.set_rollback(True)
