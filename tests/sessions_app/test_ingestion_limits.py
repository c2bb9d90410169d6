"""Hostile and oversized files (SPEC §4 limits): clear errors, small error responses,
bounded memory, nothing stored — through the service, the API and the page."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.errors import InvalidFile
from sessions_app.ingestion import parse_statement
from sessions_app.models import CardTransaction, ProcessingSession
from sessions_app.services import session_create
from tests.sessions_app.xlsx_files import huge_header_cell, sheet_bomb, workbook_bytes

ROOT = Path(__file__).resolve().parents[2]
MAX_UPLOAD_RSS_MB = 600
MAX_ERROR_RESPONSE = 64 * 1024


def refusal(data: bytes) -> InvalidFile:
    with pytest.raises(InvalidFile) as caught:
        parse_statement(data)
    return caught.value


def first_message(data: bytes) -> str:
    return refusal(data).details[0]["message"]


# --- files, one limit at a time ---------------------------------------------------------------


def test_an_employee_id_longer_than_the_field_is_a_row_error() -> None:
    error = refusal(b"Employee ID,Amount\n" + b"7" * 121 + b",1.00\nE2,2.00\n")

    listed = error.details[0]
    assert (listed["line"], listed["column"]) == (2, "Employee ID")
    assert listed["message"] == "121 characters; the limit is 100"
    assert listed["value"] == "7" * 100 + "…"  # quoted to 100 characters


def test_a_name_longer_than_the_field_is_a_row_error() -> None:
    error = refusal(b"Employee ID,Employee Name,Amount\nE1," + b"n" * 250 + b",1.00\n")

    assert error.details[0]["message"] == "250 characters; the limit is 200"


def test_a_nul_byte_after_the_first_8_kb_is_a_file_error_naming_its_line() -> None:
    rows = b"".join(b"E%d,1.00\n" % i for i in range(2000))
    data = b"Employee ID,Amount\n" + rows + b"E9,\x001.00\n"

    error = refusal(data)

    assert error.details[0]["line"] == 2002
    assert "NUL byte on line 2002" in error.details[0]["message"]


def test_too_many_columns_is_a_file_error() -> None:
    header = ",".join(["Employee ID", "Amount", *(f"C{i}" for i in range(199))])

    assert "has 201 columns on line 1; the limit is 200" in first_message(header.encode() + b"\n")


def test_a_cell_longer_than_1000_characters_is_a_file_error() -> None:
    data = b"Employee ID,Merchant,Amount\nE1," + b"m" * 1001 + b",1.00\n"

    assert "cell of 1,001 characters or more on line 2" in first_message(data)


def test_thousands_of_errors_make_a_small_listing() -> None:
    rows = b"".join(b"E%d,%s\n" % (i, b"x" * 900) for i in range(5000))

    error = refusal(b"Employee ID,Amount\n" + rows)

    assert error.error_count == 5000
    assert len(error.details) <= 200
    assert len(json.dumps(error.as_dict()).encode()) < MAX_ERROR_RESPONSE


def test_a_workbook_too_wide_is_a_file_error() -> None:
    data = workbook_bytes([["Employee ID", "Amount", *(f"C{i}" for i in range(250))]])

    assert "more than 200 columns on row 1" in first_message(data)


def test_a_sheet_expanding_to_gigabytes_is_refused_before_it_is_read() -> None:
    data = sheet_bomb()

    assert len(data) < 10 * 1024 * 1024
    assert "expands to 1.3 GB; the limit is 1 GB" in first_message(data)


@pytest.mark.parametrize("shared", [True, False], ids=["shared-string", "inline-string"])
def test_a_huge_header_cell_is_refused_before_it_is_read(shared: bool) -> None:
    data = huge_header_cell(200, shared=shared)

    assert len(data) < 300 * 1024
    assert "a text of more than 1,000 characters" in first_message(data)


def test_a_damaged_workbook_says_it_may_be_truncated() -> None:
    data = workbook_bytes([["Employee ID", "Amount"], ["E1", 1]])

    assert "truncated" in first_message(data[: len(data) // 2])


# --- bounded memory: the upload's work in a process of its own -------------------------------


RSS_SCRIPT = """
import json, sys
import django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from core.errors import InvalidFile
from sessions_app.services.uploads import statement_read
from tests.sessions_app.xlsx_files import huge_header_cell, sheet_bomb

files = {
    "bomb": sheet_bomb(),
    "shared": huge_header_cell(200),
    "inline": huge_header_cell(200, shared=False),
}
outcome = {}
for name, data in files.items():
    try:
        statement_read(SimpleUploadedFile(name + ".xlsx", data), label="The card statement")
        outcome[name] = "stored"
    except InvalidFile as error:
        outcome[name] = error.details[0]["message"]
status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
print(json.dumps({"peak_kb": int(status), "outcome": outcome}))
"""


def test_hostile_workbooks_are_refused_in_bounded_memory() -> None:
    # VmHWM is the peak of this process's own memory since it started (not inherited).
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert all(message != "stored" for message in report["outcome"].values()), report
    assert report["peak_kb"] / 1024 < MAX_UPLOAD_RSS_MB, report


# --- the three doors: nothing stored ----------------------------------------------------------


HOSTILE: dict[str, Callable[[], bytes]] = {
    "sheet-bomb": sheet_bomb,
    "huge-shared-string": lambda: huge_header_cell(200),
    "long-employee-id": lambda: b"Employee ID,Amount\n" + b"7" * 121 + b",1.00\n",
    "nul-byte": lambda: b"Employee ID,Amount\n" + b"E1,1.00\n" * 2000 + b"E2,\x00\n",
}


@pytest.fixture(params=sorted(HOSTILE))
def hostile(request: Any) -> SimpleUploadedFile:
    data = HOSTILE[request.param]()
    return SimpleUploadedFile(f"{request.param}.csv", data)


def test_the_service_refuses_and_stores_nothing(
    engagement: Any, operator: Any, hostile: SimpleUploadedFile
) -> None:
    with pytest.raises(InvalidFile):
        session_create(
            engagement=engagement,
            name="October",
            period_start=datetime.date(2026, 10, 1),
            period_end=datetime.date(2026, 10, 31),
            card_file=hostile,
            actor=operator,
        )

    assert ProcessingSession.objects.count() == 0
    assert CardTransaction.objects.count() == 0


def test_the_api_refuses_with_a_small_error_and_stores_nothing(
    engagement: Any, operator: Any, hostile: SimpleUploadedFile
) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator).key}")
    body = {
        "engagement": engagement.slug,
        "name": "October",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "card_file": hostile,
    }

    response = api.post("/api/v1/sessions/", body, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_file"
    assert len(response.content) < MAX_ERROR_RESPONSE
    assert ProcessingSession.objects.count() == 0


def test_the_page_refuses_and_stores_nothing(
    client: Client, engagement: Any, operator: Any, hostile: SimpleUploadedFile
) -> None:
    client.force_login(operator)
    form = {
        "engagement": engagement.pk,
        "name": "October",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "tolerance": "0.00",
        "card_file": hostile,
    }

    response = client.post(reverse("sessions_app:session_new"), form)

    assert response.status_code == 422
    assert "nothing was stored" in response.content.decode()
    assert len(response.content) < 200 * 1024
    assert ProcessingSession.objects.count() == 0


def test_a_sheet_of_more_rows_than_the_limit_is_refused_before_it_is_read() -> None:
    data = sheet_bomb(0.2)  # about three million rows, under the expanded-size limit

    assert "a sheet of more than 2,000,000 rows, the limit" in first_message(data)
