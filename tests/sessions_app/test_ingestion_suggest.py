"""A mapping proposed from the content of a file whose headers match no alias: in the
error details, the page's mapping form and `reconcile --suggest-profile` (SPEC §4)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sessions_app.ingestion import (
    ColumnsNotFound,
    ImportSettings,
    parse_statement,
    suggest_profile_for,
)
from tests.sessions_app.card_layouts import LAYOUTS, build

ROLES_SCORED = ("employee_id", "amount", "date")


def score(layout_index: int, seed: int) -> tuple[int, bool]:
    """Roles proposed right, and whether the proposed profile reads the file to the cent."""
    layout = LAYOUTS[layout_index]
    data, total = build(layout, 80, seed)
    profile = suggest_profile_for(data)
    columns = profile.get("columns", {})
    right = sum(columns.get(role) in layout.truth[role] for role in ROLES_SCORED)
    parsed = parse_statement(data, settings=ImportSettings.from_dict(profile))
    return right, parsed.total_amount == total


def test_the_suggestion_maps_every_built_layout_family() -> None:
    # The figure the documentation states: 6 layout families x 3 files, 3 roles each.
    results = [score(index, seed) for index in range(len(LAYOUTS)) for seed in range(3)]

    roles_right = sum(right for right, _ in results)
    files_exact = sum(exact for _, exact in results)
    assert (roles_right, files_exact) == (3 * len(results), len(results))


def test_the_error_details_carry_the_suggested_profile() -> None:
    data, _ = build(LAYOUTS[5], 40, seed=7)

    with pytest.raises(ColumnsNotFound) as caught:
        parse_statement(data)

    details = caught.value.details[0]
    assert details["missing"] == ["employee_id", "amount"]
    suggested = details["suggested_profile"]
    assert suggested["columns"]["amount"] == "VALOR TRANSAÇÃO"
    assert suggested["columns"]["employee_id"] == "CPF PORTADOR"
    assert suggested["decimal_separator"] == ","
    assert suggested["delimiter"] == ";"
    assert suggested["date_format"] == "dd/mm/yyyy"
    assert "Suggested mapping from the content" in details["message"]


def test_the_api_returns_the_suggestion(engagement: Any, operator: Any) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator).key}")
    data, _ = build(LAYOUTS[1], 30, seed=1)
    body = {
        "engagement": engagement.slug,
        "name": "October",
        "period_start": "2024-10-01",
        "period_end": "2024-10-31",
        "card_file": SimpleUploadedFile("council.csv", data),
    }

    response = api.post("/api/v1/sessions/", body, format="multipart")

    assert response.status_code == 400
    suggested = response.json()["error"]["details"][0]["suggested_profile"]
    assert suggested["columns"]["employee_id"] == "CARD NUMBER"
    assert suggested["columns"]["amount"] == "ORIGINAL GROSS AMT"


def test_the_mapping_form_is_prefilled_with_the_suggestion(
    client: Client, engagement: Any, operator: Any
) -> None:
    client.force_login(operator)
    data, _ = build(LAYOUTS[1], 30, seed=1)
    form = {
        "engagement": engagement.pk,
        "name": "October",
        "period_start": "2024-10-01",
        "period_end": "2024-10-31",
        "tolerance": "0.00",
        "card_file": SimpleUploadedFile("council.csv", data),
    }

    response = client.post(reverse("sessions_app:session_new"), form)

    assert response.status_code == 422
    mapping = response.context["mapping_form"]
    assert mapping["column_employee_id"].value() == "CARD NUMBER"
    assert mapping["column_amount"].value() == "ORIGINAL GROSS AMT"
    assert mapping["column_date"].value() == "TRANS DATE"


def test_reconcile_prints_a_profile_that_reads_the_file(tmp_path: Path) -> None:
    data, total = build(LAYOUTS[3], 50, seed=3)
    statement = tmp_path / "city.csv"
    statement.write_bytes(data)
    out = StringIO()

    call_command("reconcile", "--suggest-profile", str(statement), stdout=out)

    profile = json.loads(out.getvalue())
    assert profile["columns"]["employee_id"] == "Cardholder"
    saved = tmp_path / "city.json"
    saved.write_text(json.dumps(profile))
    result = StringIO()
    call_command(
        "reconcile",
        "--card",
        str(statement),
        "--profile",
        str(saved),
        "--format",
        "json",
        stdout=result,
        stderr=StringIO(),
    )
    rows = json.loads(result.getvalue())
    assert sum(float(row["car_amount"]) for row in rows) == pytest.approx(float(total))
