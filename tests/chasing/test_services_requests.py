from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import ActivityEvent
from chasing.models import OutboundEmail, ReceiptRequest
from chasing.services import receipt_requests_send
from sessions_app.errors import SessionClosed
from sessions_app.services import session_close
from tests.chasing.conftest import EMAILS, TOTALS, UNMATCHED, html_part, text_part

pytestmark = pytest.mark.django_db


def test_it_sends_one_email_per_employee_listing_exactly_the_unmatched_charges(
    session, directory, operator, smtp_server, deliver
):
    with deliver():
        outcome = receipt_requests_send(session=session, actor=operator, note="Due Friday")

    assert sorted(m["To"] for m in smtp_server.messages) == sorted(EMAILS.values())
    for employee_id, address in EMAILS.items():
        [message] = smtp_server.to(address)
        text, html = text_part(message), html_part(message)
        for date, merchant, amount in UNMATCHED[employee_id]:
            assert f"{date}  {merchant}  {amount}" in text
            assert merchant in html and amount in html
        listed = [line for line in text.splitlines() if line.startswith("- ")]
        assert len(listed) == len(UNMATCHED[employee_id])
        assert f"Total: {TOTALS[employee_id]}" in text
        assert "Due Friday" in text and "Due Friday" in html
    result = outcome.as_dict()
    assert result["sent"] == 4
    assert sorted(result["skipped_no_contact"]) == ["E1003", "E1006"]
    assert result["skipped_recent"] == []


def test_it_records_who_when_which_charges_and_the_delivery(
    session, directory, operator, smtp_server, deliver
):
    with deliver():
        receipt_requests_send(session=session, actor=operator, employee_ids=["E1004"])

    request = ReceiptRequest.objects.get()
    assert request.requested_by == operator and request.recipient == "dmitri@example.com"
    assert request.amount == Decimal("212.30")
    assert sorted(c.merchant for c in request.charges.all()) == ["MARRIOTT", "STARBUCKS"]
    assert request.email.status == OutboundEmail.Status.SENT
    assert request.email.deliveries.get().succeeded
    event = ActivityEvent.objects.get(verb=ActivityEvent.Verb.RECEIPTS_REQUESTED)
    assert event.session == session and event.actor == operator
    assert "1 employee" in event.message and "212.30" in event.message


def test_a_dry_run_answers_the_plan_and_sends_nothing(session, directory, operator, smtp_server):
    outcome = receipt_requests_send(session=session, actor=operator, dry_run=True)

    assert outcome.as_dict()["sent"] == 4
    assert smtp_server.messages == []
    assert not ReceiptRequest.objects.exists()


def test_a_second_request_within_the_quiet_period_is_skipped_unless_forced(
    session, directory, operator, smtp_server, deliver
):
    with deliver():
        receipt_requests_send(session=session, actor=operator)
    with deliver():
        again = receipt_requests_send(session=session, actor=operator)
    assert again.as_dict()["sent"] == 0
    assert sorted(again.as_dict()["skipped_recent"]) == sorted(EMAILS)
    assert len(smtp_server.messages) == 4

    with deliver():
        forced = receipt_requests_send(
            session=session, actor=operator, employee_ids=["E1001"], force=True
        )
    assert forced.as_dict()["sent"] == 1
    assert len(smtp_server.to("alice@example.com")) == 2


def test_after_the_quiet_period_the_employee_is_asked_again(
    session, directory, operator, smtp_server, deliver
):
    with deliver():
        receipt_requests_send(session=session, actor=operator, employee_ids=["E1001"])
    four_days_later = timezone.now() + datetime.timedelta(days=4)
    with deliver():
        later = receipt_requests_send(
            session=session, actor=operator, employee_ids=["E1001"], now=four_days_later
        )
    assert later.as_dict()["sent"] == 1
    assert len(smtp_server.to("alice@example.com")) == 2


def test_nothing_is_sent_from_a_closed_session(session, directory, operator, smtp_server):
    session = session_close(
        session=session, reason="Period done", actor=operator, close_anyway=True
    )
    with pytest.raises(SessionClosed):
        receipt_requests_send(session=session, actor=operator)
    assert not ReceiptRequest.objects.exists()
    assert smtp_server.messages == []


def test_employees_without_a_contact_are_reported_never_emailed(
    session, directory, operator, smtp_server, deliver
):
    with deliver():
        outcome = receipt_requests_send(session=session, actor=operator, employee_ids=["E1003"])
    assert outcome.as_dict()["sent"] == 0
    assert outcome.as_dict()["skipped_no_contact"] == ["E1003"]
    [skipped] = outcome.as_dict()["skipped"]
    assert skipped["reason"] == "no_contact"
    assert skipped["employee_id"] == "E1003" and skipped["amount"] == Decimal("89.99")
    assert smtp_server.messages == []
