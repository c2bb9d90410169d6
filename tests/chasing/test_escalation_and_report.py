from __future__ import annotations

import csv
import datetime
import importlib
import io

import pytest
from django.apps import apps as django_apps
from django.utils import timezone
from django_q.models import Schedule

from audit.models import ActivityEvent
from chasing import tasks
from chasing.models import ChasingSettings, ReceiptRequest, ReportSubscription
from chasing.schedules import ESCALATION, RETRIES, WEEKLY_REPORT
from chasing.services import (
    receipt_requests_escalate,
    receipt_requests_send,
    weekly_report_send_now,
    weekly_reports_send,
)
from sessions_app.services import session_close
from tests.chasing.conftest import html_part, text_part

pytestmark = pytest.mark.django_db


def _days(n: int) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=n)


def test_charges_still_unmatched_after_n_days_go_once_to_the_manager(
    session, directory, operator, engagement, smtp_server, deliver
):
    ChasingSettings.objects.create(engagement=engagement, escalation_days=5)
    with deliver():
        receipt_requests_send(session=session, actor=operator)
    assert len(smtp_server.messages) == 4

    with deliver():
        assert receipt_requests_escalate(now=_days(4)) == 0  # too early
    assert len(smtp_server.messages) == 4

    with deliver():
        assert receipt_requests_escalate(now=_days(6)) == 3
    # E1001 and E1004 share a manager, E1007 has another; E1002 has none.
    assert len(smtp_server.to("tom@example.com")) == 1
    to_maria = smtp_server.to("maria@example.com")
    assert len(to_maria) == 2
    texts = sorted(text_part(m) for m in to_maria)
    assert any("HILTON GARDEN INN" in t and "Total: 35.25" in t for t in texts)
    assert any("MARRIOTT" in t and "STARBUCKS" in t and "Total: 212.30" in t for t in texts)
    escalations = ReceiptRequest.objects.filter(kind=ReceiptRequest.Kind.ESCALATION)
    assert sorted(escalations.values_list("employee_id", flat=True)) == ["E1001", "E1004", "E1007"]
    assert ActivityEvent.objects.filter(
        verb=ActivityEvent.Verb.RECEIPTS_ESCALATED, session=session
    ).exists()

    with deliver():
        assert receipt_requests_escalate(now=_days(9)) == 0  # once only
    assert len(smtp_server.to("maria@example.com")) == 2


def test_escalation_waits_for_the_first_request_of_each_charge(
    session, directory, operator, engagement, smtp_server, deliver
):
    ChasingSettings.objects.create(engagement=engagement, escalation_days=5)
    with deliver():
        receipt_requests_send(session=session, actor=operator, employee_ids=["E1007"])
    with deliver():
        receipt_requests_send(
            session=session, actor=operator, employee_ids=["E1007"], force=True, now=_days(3)
        )
    with deliver():
        assert receipt_requests_escalate(now=_days(5) + datetime.timedelta(minutes=1)) == 1
    [message] = smtp_server.to("tom@example.com")
    assert "UBER" in text_part(message) and "Total: 60.00" in text_part(message)


def test_a_closed_session_is_never_escalated(session, directory, operator, smtp_server, deliver):
    with deliver():
        receipt_requests_send(session=session, actor=operator)
    session_close(session=session, reason="done", actor=operator, close_anyway=True)
    with deliver():
        assert receipt_requests_escalate(now=_days(30)) == 0
    assert smtp_server.to("maria@example.com") == []


def test_the_weekly_report_goes_once_a_week_to_each_subscriber_with_a_csv(
    session, engagement, operator, smtp_server, deliver
):
    ReportSubscription.objects.create(engagement=engagement, email="cfo@example.com")
    ReportSubscription.objects.create(engagement=engagement, email="ap@example.com")
    with deliver():
        assert weekly_reports_send(now=_days(1)) == 2
    with deliver():
        assert weekly_reports_send(now=_days(1)) == 0  # the schedule ran twice: one report

    [message] = smtp_server.to("cfo@example.com")
    assert "weekly report" in message["Subject"] and "Acme Corp" in message["Subject"]
    text, html = text_part(message), html_part(message)
    assert "October 2026" in text and "October 2026" in html
    # The open session: its proof and its unmatched charges.
    assert "unmatched charges: 9" in text
    assert "Exception rate" in html
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename().endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
    assert rows[0]["session"] == "October 2026"
    assert rows[0]["unmatched_charges"] == "9"
    assert len(smtp_server.to("ap@example.com")) == 1


def test_send_now_sends_the_report_outside_the_schedule(
    session, engagement, operator, smtp_server, deliver
):
    ReportSubscription.objects.create(engagement=engagement, email="cfo@example.com")
    with deliver():
        assert weekly_report_send_now(engagement=engagement, actor=operator) == 1
    with deliver():
        assert weekly_reports_send(now=timezone.now()) == 1  # the scheduled one still goes
    assert len(smtp_server.to("cfo@example.com")) == 2


def test_the_schedules_are_registered_once():
    migration = importlib.import_module("chasing.migrations.0002_register_schedules")
    migration.register(django_apps, None)  # migrating again adds nothing
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {RETRIES, ESCALATION, WEEKLY_REPORT} <= names
    weekly = Schedule.objects.get(name=WEEKLY_REPORT)
    assert weekly.func == "chasing.tasks.weekly_reports_send_task"
    assert weekly.schedule_type == Schedule.WEEKLY and weekly.next_run.weekday() == 0
    assert Schedule.objects.get(name=ESCALATION).schedule_type == Schedule.DAILY
    assert Schedule.objects.filter(name=WEEKLY_REPORT).count() == 1


def test_the_scheduled_tasks_call_their_services(
    session, directory, operator, engagement, smtp_server, deliver
):
    ChasingSettings.objects.create(engagement=engagement, escalation_days=0)
    ReportSubscription.objects.create(engagement=engagement, email="cfo@example.com")
    with deliver():
        receipt_requests_send(session=session, actor=operator, employee_ids=["E1001"])
    with deliver():
        assert tasks.receipt_requests_escalate_task() == 1
        assert tasks.weekly_reports_send_task() == 1
    assert tasks.outbound_emails_retry_task() == 0
    assert len(smtp_server.to("maria@example.com")) == 1
    assert len(smtp_server.to("cfo@example.com")) == 1
