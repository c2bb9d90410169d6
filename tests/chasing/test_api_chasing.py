from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from chasing.models import EmployeeContact, ReceiptRequest, ReportSubscription
from sessions_app.services import session_close
from tests.chasing.conftest import DIRECTORY_CSV, EMAILS, UNMATCHED

pytestmark = pytest.mark.django_db
CONTACTS = "/api/v1/engagements/acme-corp/contacts/"
SUBSCRIPTIONS = "/api/v1/engagements/acme-corp/report-subscriptions/"


def _file(content: bytes, name: str = "directory.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def _reminders(session) -> str:
    return f"/api/v1/sessions/{session.pk}/reminders/"


def test_it_loads_the_directory_and_answers_the_import_summary(api):
    answer = api.post(CONTACTS, {"file": _file(DIRECTORY_CSV.encode())}, format="multipart")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["created"] == 5 and answer.json()["rows_read"] == 5

    listed = api.get(CONTACTS).json()
    assert listed["count"] == 5
    assert listed["results"][0] == {
        "employee_id": "E1001",
        "email": "alice@example.com",
        "manager_email": "maria@example.com",
        "updated_at": listed["results"][0]["updated_at"],
    }


def test_it_loads_an_xlsx_directory(api):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Employee ID", "Email", "Manager Email"])
    sheet.append([1001, "Alice@Example.com", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    answer = api.post(CONTACTS, {"file": _file(buffer.getvalue(), "d.xlsx")}, format="multipart")
    assert answer.status_code == 200, answer.json()
    contact = EmployeeContact.objects.get()
    assert (contact.employee_id, contact.email) == ("1001", "alice@example.com")


def test_a_directory_with_a_bad_row_is_refused_whole(api, directory):
    bad = (
        "employee_id,email,manager_email\n"
        "E1001,new@example.com,\nE1009,not-an-email,\n,x@example.com,\n"
    )
    answer = api.post(CONTACTS, {"file": _file(bad.encode())}, format="multipart")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_file"
    assert {(d["line"], d["column"]) for d in error["details"]} == {
        (3, "email"),
        (4, "employee_id"),
    }
    assert EmployeeContact.objects.get(employee_id="E1001").email == "alice@example.com"


def test_a_directory_without_the_email_column_names_what_is_missing(api):
    answer = api.post(CONTACTS, {"file": _file(b"employee_id,phone\nE1,123\n")}, format="multipart")
    assert answer.status_code == 400
    assert "email" in answer.json()["error"]["details"][0]["message"]


def test_reminders_send_one_email_per_employee_and_report_the_skipped(
    api, session, directory, smtp_server, deliver
):
    with deliver():
        answer = api.post(_reminders(session), {"note": "Please"}, format="json")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["sent"] == 4
    assert sorted(body["skipped_no_contact"]) == ["E1003", "E1006"]
    assert {s["employee_id"]: s["reason"] for s in body["skipped"]} == {
        "E1003": "no_contact",
        "E1006": "no_contact",
    }
    by_employee = {r["employee_id"]: r for r in body["recipients"]}
    assert by_employee["E1002"]["email"] == EMAILS["E1002"]
    assert [c["merchant"] for c in by_employee["E1002"]["charges"]] == [
        m for _, m, _ in UNMATCHED["E1002"]
    ]
    assert by_employee["E1002"]["amount"] == "1205.00"
    assert len(smtp_server.messages) == 4

    with deliver():
        again = api.post(_reminders(session), {}, format="json").json()
    assert again["sent"] == 0
    assert sorted(again["skipped_recent"]) == sorted(EMAILS)
    assert len(smtp_server.messages) == 4


def test_a_dry_run_through_the_api_sends_nothing(api, session, directory, smtp_server, deliver):
    with deliver():
        answer = api.post(_reminders(session), {"dry_run": True}, format="json")
    assert answer.json()["sent"] == 4 and answer.json()["dry_run"] is True
    assert smtp_server.messages == [] and not ReceiptRequest.objects.exists()


def test_a_viewer_may_read_the_directory_but_not_ask_or_load(viewer_api, session, directory):
    assert viewer_api.get(CONTACTS).status_code == 200
    assert viewer_api.post(_reminders(session), {}, format="json").status_code == 403
    upload = viewer_api.post(CONTACTS, {"file": _file(b"x")}, format="multipart")
    assert upload.status_code == 403
    assert viewer_api.post(SUBSCRIPTIONS, {"email": "a@b.co"}, format="json").status_code == 403
    assert not ReceiptRequest.objects.exists()


def test_another_engagement_gets_404(outsider_api, session, directory):
    assert outsider_api.post(_reminders(session), {}, format="json").status_code == 404
    assert outsider_api.get(CONTACTS).status_code == 404
    assert outsider_api.get(SUBSCRIPTIONS).status_code == 404


def test_anonymous_gets_401(anonymous_api, session):
    assert anonymous_api.post(_reminders(session), {}, format="json").status_code == 401


def test_a_closed_session_answers_409(api, session, directory, operator, smtp_server):
    session_close(session=session, reason="done", actor=operator, close_anyway=True)
    answer = api.post(_reminders(session), {}, format="json")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "session_closed"
    assert smtp_server.messages == []


def test_report_subscriptions_are_listed_and_created(api):
    created = api.post(SUBSCRIPTIONS, {"email": "CFO@example.com"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["email"] == "cfo@example.com"
    assert created.json()["frequency"] == "weekly"
    assert api.post(SUBSCRIPTIONS, {"email": "cfo@example.com"}, format="json").status_code == 400
    assert api.get(SUBSCRIPTIONS).json()["count"] == 1
    assert ReportSubscription.objects.get().engagement.slug == "acme-corp"


def test_the_contact_list_stays_at_a_fixed_number_of_queries(
    api, engagement, django_assert_max_num_queries
):
    EmployeeContact.objects.bulk_create(
        EmployeeContact(engagement=engagement, employee_id=f"E{i}", email=f"e{i}@example.com")
        for i in range(40)
    )
    with django_assert_max_num_queries(8):
        assert api.get(CONTACTS).json()["count"] == 40
