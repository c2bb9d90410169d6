from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from chasing.models import ChasingSettings, EmployeeContact, ReceiptRequest, ReportSubscription
from chasing.services import receipt_requests_send
from sessions_app.services import session_close
from tests.chasing.conftest import DIRECTORY_CSV

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def outsider_client(client, outsider):
    client.force_login(outsider)
    return client


def _reminders(session) -> str:
    return reverse("chasing:reminders", args=[session.pk])


CONTACTS = reverse("chasing:contacts", args=["acme-corp"])


def test_the_reminders_page_previews_recipients_charges_and_the_skipped(
    operator_client, session, directory
):
    page = operator_client.get(_reminders(session))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" in html
    assert "4</strong> emails" in html
    assert "alice@example.com" in html and "HILTON GARDEN INN" in html and "35.25" in html
    assert "1,205.00" in html  # Bob's two charges, in the money format
    assert "No email in the employee directory" in html  # E1003 and E1006
    assert "Send 4 requests" in html


def test_the_preview_fragment_comes_alone_for_htmx(operator_client, session, directory):
    fragment = operator_client.get(
        _reminders(session), headers={**HTMX, "HX-Target": "reminder-preview"}
    )
    html = fragment.content.decode()
    assert fragment.status_code == 200 and "<html" not in html
    assert 'id="reminder-preview"' in html


def test_sending_from_the_page_queues_the_requests_and_lists_them(
    operator_client, session, directory, smtp_server, deliver
):
    with deliver():
        answer = operator_client.post(_reminders(session), {"note": "By Friday please"})
    assert answer.status_code == 302
    assert len(smtp_server.messages) == 4
    page = operator_client.get(_reminders(session)).content.decode()
    assert "Receipt requests queued for 4 employees" in page
    assert "Sent" in page and "By Friday" not in page.split("Requests sent")[0][-10:]
    assert ReceiptRequest.objects.filter(note="By Friday please").count() == 4
    # The second preview shows them skipped as asked recently.
    assert "Already asked for these charges during the quiet period" in page


def test_the_employee_page_shows_the_requests_and_their_delivery(
    operator_client, session, directory, smtp_server, deliver, operator
):
    with deliver():
        receipt_requests_send(session=session, actor=operator, employee_ids=["E1004"])
    url = reverse("sessions_app:employee_detail", args=[session.pk, "E1004"])
    html = operator_client.get(url).content.decode()
    assert 'id="employee-receipt-requests"' in html
    assert "dmitri@example.com" in html and "STARBUCKS" in html and "Sent" in html


def test_the_session_timeline_shows_the_request(
    operator_client, session, directory, smtp_server, deliver, operator
):
    with deliver():
        receipt_requests_send(session=session, actor=operator)
    html = operator_client.get(reverse("audit:session_timeline", args=[session.pk])).content
    assert b"Receipts requested" in html and b"from 4 employees" in html


def test_a_viewer_cannot_open_or_send_requests(viewer_client, session, directory):
    assert viewer_client.get(_reminders(session)).status_code == 403
    assert viewer_client.post(_reminders(session), {}).status_code == 403
    assert not ReceiptRequest.objects.exists()


def test_another_engagement_gets_404(outsider_client, session):
    assert outsider_client.get(_reminders(session)).status_code == 404
    assert outsider_client.get(CONTACTS).status_code == 404
    assert (
        outsider_client.get(reverse("chasing:weekly_report", args=["acme-corp"])).status_code == 404
    )


def test_a_closed_session_shows_no_send_button_and_refuses_a_post(
    operator_client, session, directory, operator, smtp_server
):
    session_close(session=session, reason="done", actor=operator, close_anyway=True)
    html = operator_client.get(_reminders(session)).content.decode()
    assert "nothing is sent from a closed session" in html and "Send " not in html
    assert operator_client.post(_reminders(session), {}).status_code == 409
    assert smtp_server.messages == []


def test_the_reminders_page_refuses_other_methods(operator_client, session):
    assert operator_client.put(_reminders(session)).status_code == 405


def test_the_directory_page_loads_a_file_and_shows_its_summary(operator_client, engagement):
    upload = SimpleUploadedFile("directory.csv", DIRECTORY_CSV.encode())
    answer = operator_client.post(
        CONTACTS, {"file": upload}, headers={**HTMX, "HX-Target": "directory-upload"}
    )
    html = answer.content.decode()
    assert answer.status_code == 200 and "<html" not in html
    assert "5 rows read" in html and "5 new" in html
    assert EmployeeContact.objects.filter(engagement=engagement).count() == 5
    page = operator_client.get(CONTACTS).content.decode()
    assert "Contacts (5)" in page and "maria@example.com" in page


def test_the_directory_page_lists_every_error_of_a_bad_file(operator_client, directory):
    upload = SimpleUploadedFile("d.csv", b"employee_id,email\nE1,nope\n")
    answer = operator_client.post(CONTACTS, {"file": upload})
    assert answer.status_code == 422
    assert (
        b"not a valid email address" in answer.content and b"nothing was stored" in answer.content
    )


def test_a_viewer_reads_the_directory_without_the_upload_form(viewer_client, directory):
    html = viewer_client.get(CONTACTS).content.decode()
    assert "alice@example.com" in html and 'id="directory-upload"' not in html
    upload = SimpleUploadedFile("d.csv", DIRECTORY_CSV.encode())
    assert viewer_client.post(CONTACTS, {"file": upload}).status_code == 403


def test_the_directory_page_stays_at_a_fixed_number_of_queries(
    operator_client, engagement, django_assert_max_num_queries
):
    EmployeeContact.objects.bulk_create(
        EmployeeContact(engagement=engagement, employee_id=f"E{i}", email=f"e{i}@example.com")
        for i in range(60)
    )
    with django_assert_max_num_queries(15):
        assert operator_client.get(CONTACTS).status_code == 200


def test_settings_are_saved_from_the_directory_page(operator_client, engagement):
    answer = operator_client.post(
        reverse("chasing:settings", args=["acme-corp"]),
        {"quiet_period_days": "5", "escalation_days": "10"},
    )
    assert answer.status_code == 302
    saved = ChasingSettings.objects.get(engagement=engagement)
    assert (saved.quiet_period_days, saved.escalation_days) == (5, 10)


def test_subscribers_are_added_and_removed_on_their_page(operator_client, engagement):
    url = reverse("chasing:subscriptions", args=["acme-corp"])
    assert operator_client.post(url, {"email": "cfo@example.com"}).status_code == 302
    subscription = ReportSubscription.objects.get(engagement=engagement)
    assert b"cfo@example.com" in operator_client.get(url).content
    delete = reverse("chasing:subscription_delete", args=["acme-corp", subscription.pk])
    assert operator_client.post(delete).status_code == 302
    assert not ReportSubscription.objects.exists()


def test_the_weekly_report_preview_and_send_now(
    operator_client, session, engagement, smtp_server, deliver
):
    ReportSubscription.objects.create(engagement=engagement, email="cfo@example.com")
    preview = operator_client.get(reverse("chasing:weekly_report", args=["acme-corp"]))
    html = preview.content.decode()
    assert "Closebook weekly report: Acme Corp" in html and "October 2026" in html
    assert "Send now to 1 subscriber" in html
    with deliver():
        sent = operator_client.post(reverse("chasing:weekly_report_send", args=["acme-corp"]))
    assert sent.status_code == 302
    assert len(smtp_server.to("cfo@example.com")) == 1


def test_the_analytics_page_links_to_the_weekly_report_preview(operator_client):
    html = operator_client.get(reverse("audit:analytics")).content.decode()
    assert reverse("chasing:weekly_report", args=["acme-corp"]) in html


def test_the_reminders_page_stays_at_a_fixed_number_of_queries(
    operator_client,
    session,
    directory,
    operator,
    smtp_server,
    deliver,
    django_assert_max_num_queries,
):
    for _ in range(3):
        with deliver():
            receipt_requests_send(session=session, actor=operator, force=True)
    assert ReceiptRequest.objects.count() == 12
    with django_assert_max_num_queries(16):
        page = operator_client.get(_reminders(session))
    assert page.content.decode().count('id="receipt-request-') == 12
