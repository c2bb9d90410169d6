"""Two receipt requests at once on PostgreSQL: each employee is asked once."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection

from chasing import selectors
from chasing.models import ReceiptRequest
from chasing.services import receipt_requests_send
from chasing.services import requests as request_services
from tests.exports.test_concurrency import at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: row locks and concurrent connections")


def test_two_requests_at_once_ask_each_employee_once(
    session, directory, operator, monkeypatch: Any
):
    real_plan = selectors.reminder_plan

    def slow_plan(**kwargs: Any) -> Any:
        plan = real_plan(**kwargs)
        time.sleep(0.3)  # widen the window between reading who was asked and recording it
        return plan

    monkeypatch.setattr(request_services, "reminder_plan", slow_plan)
    results = at_once(
        lambda: receipt_requests_send(session=session, actor=operator).as_dict()["sent"],
        lambda: receipt_requests_send(session=session, actor=operator).as_dict()["sent"],
    )
    assert sorted(value for _, value in results) == [0, 4]
    assert ReceiptRequest.objects.count() == 4
