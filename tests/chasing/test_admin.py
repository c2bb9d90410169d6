from __future__ import annotations

import pytest
from django.urls import reverse

from chasing.models import EmployeeContact, ReceiptRequest, ReportSubscription
from chasing.services import receipt_requests_send
from sessions_app.services import session_close
from tests.chasing.conftest import EMAILS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
SESSIONS = reverse("admin:sessions_app_processingsession_changelist")


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_admin_action_requests_receipts_and_reports_each_session(
    staff_client, session, directory, smtp_server, deliver, make_session, operator
):
    closed = make_session(name="September 2026")
    session_close(session=closed, reason="done", actor=operator, close_anyway=True)
    with deliver():
        answer = staff_client.post(
            SESSIONS,
            {"action": "request_receipts", "_selected_action": [session.pk, closed.pk]},
            follow=True,
        )
    texts = [str(m) for m in answer.context["messages"]]
    assert any("receipts requested from 4 employees" in t and "2 skipped" in t for t in texts)
    assert any("September 2026" in t and "closed" in t for t in texts)
    # (the recalculation of the second session also mailed its operator)
    assert sorted(m["To"] for m in smtp_server.messages if m["To"] in EMAILS.values()) == sorted(
        EMAILS.values()
    )
    assert not ReceiptRequest.objects.filter(session=closed).exists()


def test_contacts_are_edited_in_admin_with_history(staff_client, directory, engagement):
    contact = EmployeeContact.objects.get(employee_id="E1001")
    url = reverse("admin:chasing_employeecontact_change", args=[contact.pk])
    answer = staff_client.post(
        url,
        {
            "engagement": engagement.pk,
            "employee_id": "E1001",
            "email": "alice.zhang@example.com",
            "manager_email": "maria@example.com",
        },
    )
    assert answer.status_code == 302
    contact.refresh_from_db()
    assert contact.email == "alice.zhang@example.com"
    assert [h.email for h in contact.history.order_by("history_date")] == [
        "alice@example.com",
        "alice.zhang@example.com",
    ]
    history = staff_client.get(reverse("admin:chasing_employeecontact_history", args=[contact.pk]))
    assert history.status_code == 200


def test_requests_and_subscriptions_are_listed_in_admin(
    staff_client, session, directory, smtp_server, deliver, operator, engagement
):
    with deliver():
        receipt_requests_send(session=session, actor=operator, employee_ids=["E1001"])
    ReportSubscription.objects.create(engagement=engagement, email="cfo@example.com")
    requests = staff_client.get(reverse("admin:chasing_receiptrequest_changelist"))
    assert b"alice@example.com" in requests.content and b"Sent" in requests.content
    subscriptions = staff_client.get(reverse("admin:chasing_reportsubscription_changelist"))
    assert b"cfo@example.com" in subscriptions.content
