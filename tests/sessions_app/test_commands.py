from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sessions_app.models import Engagement, Membership, ProcessingSession
from tests.samples import FIXTURES

V1_EXPECTED = [
    ["E1001", "Zhang, Alice", "155.75", "155.00", "-0.75", "matched"],
    ["E1002", "Okafor, Bob", "1205.00", "1205.00", "0.00", "matched"],
    ["E1003", "Díaz, Carmen", "89.99", "80.00", "-9.99", "missing_receipts"],
    ["E1004", "Volkov, Dmitri", "512.30", "300.00", "-212.30", "missing_receipts"],
    ["E1005", "O'Brien, Ellen", "64.00", "64.00", "0.00", "matched"],
    ["E1006", "Haddad, Farid", "999.99", "0.00", "-999.99", "missing_receipts"],
    ["E1007", "Kim, Grace", "60.00", "60.00", "0.00", "matched"],
    ["E1008", "Hiro Tanaka", "0.00", "25.00", "25.00", "no_card_activity"],
]
KEYS = ["employee_id", "employee_name", "car_amount", "receipt_amount", "difference", "status"]


def reconcile(*args: str) -> list[dict[str, str]]:
    out = StringIO()
    call_command("reconcile", *args, "--format", "json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def as_rows(result: list[dict[str, str]]) -> list[list[str]]:
    return [[row[key] for key in KEYS] for row in result]


def test_it_reconciles_the_samples_without_a_database():
    result = reconcile(
        "--card", str(FIXTURES / "car_2026_10.csv"),
        "--receipts", str(FIXTURES / "receipts_2026_10_v1.csv"),
        "--tolerance", "1.00",
    )  # fmt: skip

    assert as_rows(result) == V1_EXPECTED


def test_it_gives_v1_results_from_the_cp1252_semicolon_file():
    result = reconcile(
        "--card", str(FIXTURES / "car_2026_10.csv"),
        "--receipts", str(FIXTURES / "receipts_2026_10_v1_cp1252_semicolon.csv"),
        "--tolerance", "1.00",
    )  # fmt: skip

    assert as_rows(result) == V1_EXPECTED


def test_it_appends_late_receipts_in_order():
    result = reconcile(
        "--card", str(FIXTURES / "car_2026_10.csv"),
        "--receipts", str(FIXTURES / "receipts_2026_10_v1.csv"),
        "--receipts", str(FIXTURES / "receipts_2026_10_late.csv"),
        "--mode", "append", "--tolerance", "1.00",
    )  # fmt: skip

    e1006 = next(row for row in result if row["employee_id"] == "E1006")
    e1003 = next(row for row in result if row["employee_id"] == "E1003")
    assert (e1006["receipt_amount"], e1006["status"]) == ("999.99", "matched")
    assert e1003["receipt_amount"] == "80.00"


def test_it_prints_csv_and_table_formats():
    out = StringIO()
    call_command(
        "reconcile", "--card", str(FIXTURES / "car_2026_10.csv"), "--format", "csv", stdout=out
    )
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(KEYS)
    assert lines[1] == 'E1001,"Zhang, Alice",155.75,0.00,-155.75,missing_receipts'


def test_it_exits_2_with_every_error_of_a_bad_file():
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "reconcile",
            "--card", str(FIXTURES / "car_2026_10.csv"),
            "--receipts", str(FIXTURES / "receipts_bad.csv"),
            "--format", "json",
            stdout=out,
        )  # fmt: skip

    assert raised.value.returncode == 2
    error = json.loads(out.getvalue())["error"]
    assert error["code"] == "invalid_file"
    assert error["error_count"] == 3
    assert [(e["line"], e["column"], e["value"]) for e in error["details"]] == [
        (2, "Amount", "12.3.4"),
        (3, "Employee Number", ""),
        (4, "Amount", "ten dollars"),
    ]


def test_it_exits_2_when_a_truncated_file_no_longer_matches_its_control_total(tmp_path):
    lines = (FIXTURES / "car_2026_10.csv").read_bytes().split(b"\r\n")
    truncated = tmp_path / "car_truncated.csv"
    truncated.write_bytes(b"\r\n".join(lines[:5] + lines[-2:]))
    out = StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("reconcile", "--card", str(truncated), "--format", "json", stdout=out)

    assert raised.value.returncode == 2
    message = json.loads(out.getvalue())["error"]["details"][0]["message"]
    assert "control total" in message and "truncated" in message


@pytest.mark.django_db
def test_it_creates_an_operator_whose_token_works():
    out = StringIO()
    call_command(
        "createoperator", "ana", "--engagement", "Acme Corp", "--password", "s3cret-pass-42",
        stdout=out, stderr=StringIO(),
    )  # fmt: skip

    token = out.getvalue().strip().splitlines()[-1]
    user = get_user_model().objects.get(username="ana")
    assert Token.objects.get(user=user).key == token
    assert Engagement.objects.get().slug == "acme-corp"
    assert Membership.objects.get(user=user).role == "operator"
    assert user.check_password("s3cret-pass-42")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["user"]["username"] == "ana"
    assert me.json()["engagements"][0]["role"] == "operator"


@pytest.mark.django_db
def test_it_updates_an_existing_operator_role_and_keeps_the_token():
    first = StringIO()
    call_command(
        "createoperator", "ana", "--engagement", "Acme Corp", stdout=first, stderr=StringIO()
    )
    second = StringIO()
    call_command(
        "createoperator", "ana", "--engagement", "acme-corp", "--role", "viewer",
        stdout=second, stderr=StringIO(),
    )  # fmt: skip

    assert first.getvalue().splitlines()[-1] == second.getvalue().splitlines()[-1]
    assert Membership.objects.get().role == "viewer"
    assert Engagement.objects.count() == 1


@pytest.mark.django_db
def test_it_loads_the_demo_once():
    out = StringIO()
    call_command("load_demo", stdout=out)
    call_command("load_demo", stdout=StringIO())

    assert "demo / closebook-demo" in out.getvalue()
    engagement = Engagement.objects.get(slug="demo-corp")
    sessions = ProcessingSession.objects.filter(engagement=engagement)
    assert sessions.count() == 2
    assert set(sessions.values_list("status", flat=True)) == {"completed"}
    assert get_user_model().objects.get(username="admin").is_staff
