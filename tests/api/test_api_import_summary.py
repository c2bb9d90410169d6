"""The import summary through the API (sessions, receipt versions, card replacement), and
import profiles with alternative headers and an employee id for charges without one."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from sessions_app.models import ImportProfile, ProcessingSession
from tests.conftest import fixture_file

pytestmark = pytest.mark.django_db

SUMMARY_KEYS = {
    "lines_read",
    "employees",
    "total_amount",
    "blank_rows",
    "summary_rows",
    "summary_rows_agreeing",
    "summary_rows_not_agreeing",
    "control_total",
    "unassigned_lines",
    "warnings",
    "warning_count",
}


def test_a_new_session_returns_its_card_import_summary(api: Any, engagement: Any) -> None:
    body = {
        "engagement": engagement.slug,
        "name": "October 2026",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "card_file": fixture_file("car_2026_10.csv"),
    }

    response = api.post("/api/v1/sessions/", body, format="multipart")

    assert response.status_code == 201, response.json()
    summary = response.json()["card_import_summary"]
    assert set(summary) == SUMMARY_KEYS
    assert (summary["lines_read"], summary["employees"]) == (12, 7)
    assert summary["blank_rows"] == 1
    listed = api.get("/api/v1/sessions/").json()["results"][0]
    assert listed["card_import_summary"] == summary


def test_a_receipts_version_returns_its_import_summary(
    api: Any, session: ProcessingSession, on_commit: Any
) -> None:
    text = b"Employee ID,Receipt Amount\nE1001,10.00\nE1002,5.00\n,9.00\n"
    with on_commit():
        response = api.post(
            f"/api/v1/sessions/{session.pk}/receipts/",
            {"file": SimpleUploadedFile("late.csv", text), "mode": "append"},
            format="multipart",
        )

    assert response.status_code == 202, response.json()
    summary = response.json()["version"]["import_summary"]
    assert summary["lines_read"] == 2
    assert summary["total_amount"] == "15.00"
    assert summary["warning_count"] == 1
    assert "9.00 agrees neither" in summary["warnings"][0]
    versions = api.get(f"/api/v1/sessions/{session.pk}/receipts/").json()["results"]
    assert versions[-1]["import_summary"] == summary


def test_a_card_replacement_returns_the_new_summary(
    api: Any, session: ProcessingSession, on_commit: Any
) -> None:
    with on_commit():
        response = api.post(
            f"/api/v1/sessions/{session.pk}/card/",
            {"file": fixture_file("car_2026_10_corrected.csv")},
            format="multipart",
        )

    assert response.status_code == 202, response.json()
    summary = response.json()["session"]["card_import_summary"]
    assert summary["total_amount"] == "1659.75"


def test_a_profile_takes_alternative_headers_and_an_unassigned_employee(
    api: Any, engagement: Any
) -> None:
    profile = {
        "name": "Council",
        "columns": {"employee_id": ["Division", "Divison"], "amount": "Gross Amt"},
        "unassigned_employee_id": "UNASSIGNED",
    }

    created = api.post(
        f"/api/v1/engagements/{engagement.slug}/import-profiles/", profile, format="json"
    )

    assert created.status_code == 201, created.json()
    assert created.json()["columns"]["employee_id"] == ["Division", "Divison"]
    assert created.json()["unassigned_employee_id"] == "UNASSIGNED"
    body = {
        "engagement": engagement.slug,
        "name": "October 2012",
        "period_start": "2012-10-01",
        "period_end": "2012-10-31",
        "card_file": SimpleUploadedFile(
            "council.csv", b"Divison,Merchant,Gross Amt\nParks,Shop,10.00\n,Cafe,2.50\n"
        ),
        "card_profile": "Council",
    }
    response = api.post("/api/v1/sessions/", body, format="multipart")
    assert response.status_code == 201, response.json()
    summary = response.json()["card_import_summary"]
    assert (summary["lines_read"], summary["unassigned_lines"]) == (2, 1)


def test_a_profile_column_that_is_not_headers_is_refused(api: Any, engagement: Any) -> None:
    response = api.post(
        f"/api/v1/engagements/{engagement.slug}/import-profiles/",
        {"name": "Bad", "columns": {"employee_id": ["Division", 7]}},
        format="json",
    )

    assert response.status_code == 400
    assert "columns" in response.json()["error"]["details"]
    assert ImportProfile.objects.count() == 0
