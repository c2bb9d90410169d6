"""A real `qcluster` process delivers the requests: nothing is sent in the request itself."""

from __future__ import annotations

from typing import Any

import pytest
from django_q.conf import Conf
from django_q.models import Schedule

from chasing.models import OutboundEmail
from chasing.services import receipt_requests_send
from tests.chasing.conftest import EMAILS
from tests.recalc.workers import WorkerDatabase, qcluster, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_sends_the_requests_through_smtp(
    session, directory, operator, smtp_server, settings, tmp_path, monkeypatch: Any
):
    Schedule.objects.all().delete()  # only the queued deliveries, no scheduled runs
    monkeypatch.setattr(Conf, "SYNC", False)
    receipt_requests_send(session=session, actor=operator)
    assert smtp_server.messages == []  # queued on the broker, not sent by the caller
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"queued"}

    database = WorkerDatabase(tmp_path)
    database.hand_over()
    worker = qcluster(
        database, tmp_path, "worker", EMAIL_URL=f"smtp://127.0.0.1:{settings.EMAIL_PORT}"
    )
    try:
        wait_for(
            lambda: (
                database.rows(
                    "SELECT COUNT(*) FROM chasing_outboundemail WHERE status = %s", ("sent",)
                )[0][0]
                == 4
            ),
            timeout=60,
            what="the four requests to be sent",
        )
    finally:
        worker.kill()
    database.take_back()

    assert sorted(m["To"] for m in smtp_server.messages) == sorted(EMAILS.values())
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"sent"}
