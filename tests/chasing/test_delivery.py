"""Delivery through a real SMTP server: retried with backoff, recorded, never sent twice."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from audit.models import ActivityEvent, Notification
from chasing.models import OutboundEmail, ReceiptRequest
from chasing.services import (
    outbound_email_deliver,
    outbound_emails_deliver_due,
    receipt_requests_send,
)
from chasing.tasks import outbound_email_deliver_task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def short_backoff(settings):
    settings.CHASING_RETRY_DELAYS = [60, 300]


def _request_alice(session, operator, deliver):
    with deliver():
        receipt_requests_send(session=session, actor=operator, employee_ids=["E1001"])
    return ReceiptRequest.objects.get(employee_id="E1001").email


def test_an_smtp_failure_is_retried_after_the_backoff_and_then_delivered(
    session, directory, operator, smtp_server, deliver
):
    smtp_server.refuse_next = 1
    email = _request_alice(session, operator, deliver)

    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.RETRYING
    assert "451" in email.last_error
    assert smtp_server.messages == []
    # Not due yet: the schedule a minute later leaves it alone until the backoff has passed.
    assert outbound_emails_deliver_due(now=timezone.now() + datetime.timedelta(seconds=30)) == 0
    assert outbound_emails_deliver_due(now=timezone.now() + datetime.timedelta(seconds=61)) == 1

    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.SENT
    assert [a.succeeded for a in email.deliveries.all()] == [False, True]
    assert len(smtp_server.to("alice@example.com")) == 1


def test_a_final_failure_is_recorded_and_shown_to_the_operator(
    session, directory, operator, smtp_server, deliver
):
    smtp_server.refuse_next = 10
    email = _request_alice(session, operator, deliver)
    later = timezone.now()
    for minutes in (2, 10):
        later += datetime.timedelta(minutes=minutes)
        outbound_emails_deliver_due(now=later)

    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.FAILED
    assert email.attempts == 3 and smtp_server.refused == 3
    event = ActivityEvent.objects.get(verb=ActivityEvent.Verb.EMAIL_FAILED)
    assert event.session == session and "alice@example.com" in event.message
    assert Notification.objects.filter(user=operator, level="error").exists()
    # Nothing is due any more: a failed email stays failed, visibly.
    assert outbound_emails_deliver_due(now=later + datetime.timedelta(days=1)) == 0


def test_a_retried_task_does_not_send_twice(session, directory, operator, smtp_server, deliver):
    email = _request_alice(session, operator, deliver)
    assert len(smtp_server.messages) == 1

    assert outbound_email_deliver_task(email.pk) == "nothing to do"
    assert outbound_email_deliver(email_id=email.pk) is None
    assert len(smtp_server.messages) == 1
    email.refresh_from_db()
    assert email.attempts == 1


def test_an_email_being_sent_by_another_worker_is_not_sent_again(
    session, directory, operator, smtp_server
):
    receipt_requests_send(session=session, actor=operator, employee_ids=["E1001"])
    email = ReceiptRequest.objects.get().email
    OutboundEmail.objects.filter(pk=email.pk).update(status=OutboundEmail.Status.SENDING)

    assert outbound_email_deliver(email_id=email.pk) is None
    assert smtp_server.messages == []


def test_an_email_whose_task_was_lost_is_sent_by_the_minute_schedule(
    session, directory, operator, smtp_server
):
    receipt_requests_send(session=session, actor=operator, employee_ids=["E1001"])  # not run
    assert outbound_emails_deliver_due(now=timezone.now() + datetime.timedelta(minutes=1)) == 0
    later = timezone.now() + datetime.timedelta(minutes=11)
    assert outbound_emails_deliver_due(now=later) == 1
    assert len(smtp_server.to("alice@example.com")) == 1
    email = ReceiptRequest.objects.get().email
    assert outbound_email_deliver_task(email.pk) == "nothing to do"  # the late original task
    assert len(smtp_server.messages) == 1
