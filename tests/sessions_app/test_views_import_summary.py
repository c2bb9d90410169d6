"""The import summary on the pages (upload result, session page), and the profile form,
page and admin accepting alternative headers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from sessions_app.ingestion import ImportSettings, parse_statement
from sessions_app.models import ImportProfile, ProcessingSession
from tests.conftest import fixture_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client: Client, operator: Any) -> Client:
    client.force_login(operator)
    return client


def test_the_upload_result_and_the_session_page_show_the_summary(
    operator_client: Client, engagement: Any, django_capture_on_commit_callbacks: Any
) -> None:
    form = {
        "engagement": engagement.pk,
        "name": "October 2026",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "tolerance": "0.00",
        "card_file": fixture_file("car_2026_10.csv"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(reverse("sessions_app:session_new"), form, follow=True)

    html = response.content.decode()
    assert "Import summary: 12 lines, 7 employees" in html  # the upload result message
    assert "Import summary of the card statement: 12 lines, 7 employees" in html
    session = ProcessingSession.objects.get()
    page = operator_client.get(reverse("sessions_app:session_detail", args=[session.pk]))
    assert "Import summary of the card statement" in page.content.decode()


def test_a_receipts_version_shows_its_warnings_on_the_session_page(
    operator_client: Client, make_session: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = make_session()
    late = SimpleUploadedFile("late.csv", b"Employee ID,Receipt Amount\nE1001,1.00\n,4.00\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            reverse("sessions_app:receipts_upload", args=[session.pk]),
            {"file": late, "mode": "append", "note": ""},
            follow=True,
        )

    html = response.content.decode()
    assert "Receipts v2 stored. Import summary: 1 lines" in html
    assert "1 warning" in html
    assert "4.00 agrees neither with the lines since the previous summary row" in html


def test_the_mapping_form_saves_alternative_headers(
    operator_client: Client, engagement: Any
) -> None:
    response = operator_client.post(
        reverse("sessions_app:import_profile_new"),
        {
            "engagement": engagement.pk,
            "profile_field": "card_profile",
            "headers": json.dumps(["Division", "Gross", "Merchant"]),
            "name": "Council",
            "column_employee_id": "Division",
            "also_employee_id": "Divison\r\nDivision Name\r\n",
            "column_amount": "Gross",
            "unassigned_employee_id": "UNASSIGNED",
        },
    )

    assert response.status_code == 302
    profile = ImportProfile.objects.get()
    assert profile.columns["employee_id"] == ["Division", "Divison", "Division Name"]
    assert profile.unassigned_employee_id == "UNASSIGNED"
    settings = ImportSettings.from_dict(profile.as_settings_dict())
    parsed = parse_statement(b"Divison,Gross\nParks,1.00\n", settings=settings)
    assert parsed.lines[0].employee_id == "Parks"


def test_the_admin_saves_a_profile_with_alternatives_and_refuses_a_bad_one(
    admin_client: Client, engagement: Any
) -> None:
    url = reverse("admin:sessions_app_importprofile_add")
    data = {
        "engagement": engagement.pk,
        "name": "Council",
        "delimiter": "",
        "encoding": "",
        "columns": json.dumps({"employee_id": ["Division", "Divison"]}),
        "decimal_separator": "",
        "date_format": "",
        "unassigned_employee_id": "",
    }

    saved = admin_client.post(url, data)
    refused = admin_client.post(
        url, {**data, "name": "Bad", "columns": json.dumps({"employee_id": [3]})}
    )

    assert saved.status_code == 302
    assert ImportProfile.objects.get().columns == {"employee_id": ["Division", "Divison"]}
    assert refused.status_code == 200
    assert "a list of alternative header texts" in refused.content.decode()
    assert ImportProfile.objects.count() == 1
