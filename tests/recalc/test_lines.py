"""The COPY line writer offered to sessions_app: same rows as bulk_create, faster."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from core.bulk import lines_insert
from sessions_app.models import CardTransaction, ReceiptLine, ReceiptVersion
from tests.factories import ProcessingSessionFactory

pytestmark = pytest.mark.django_db


def test_it_stores_card_and_receipt_lines_exactly_as_bulk_create_would():
    session = ProcessingSessionFactory()
    version = ReceiptVersion.objects.create(session=session, version=1, sha256="0" * 64)
    card_lines = (
        CardTransaction(
            session=session,
            line_number=number + 2,
            employee_id=f"E{number}",
            employee_name="Díaz, Carmen",
            amount=Decimal("-12.34") + number,
            transaction_date=datetime.date(2026, 10, 1) if number % 2 else None,
            merchant='UNITED "AIRLINES"\t\\ 100%',
        )
        for number in range(7)
    )
    receipts = [  # a mapping of attnames, the cheap form
        {
            "session_id": session.pk,
            "receipt_version_id": version.pk,
            "line_number": 2,
            "employee_id": "E1",
            "amount": Decimal("1205.00"),
            "receipt_id": "R-5003",
        }
    ]

    stored = (
        lines_insert(CardTransaction, card_lines, batch_size=3),
        lines_insert(ReceiptLine, receipts),
    )

    assert stored == (7, 1)
    card = CardTransaction.objects.filter(session=session).order_by("line_number")
    assert [line.amount for line in card] == [Decimal("-12.34") + n for n in range(7)]
    assert {line.merchant for line in card} == {'UNITED "AIRLINES"\t\\ 100%'}
    assert [line.transaction_date for line in card][:2] == [None, datetime.date(2026, 10, 1)]
    receipt = ReceiptLine.objects.get(receipt_version=version)
    assert (receipt.employee_id, receipt.amount, receipt.receipt_id) == (
        "E1",
        Decimal("1205.00"),
        "R-5003",
    )
