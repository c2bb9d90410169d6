"""/api/v1/sessions/{id}/employees/{employee_id}/lines/ (match, unmatch) and
/api/v1/sessions/{id}/unmatched-charges/ (SPEC §13, §14)."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import ActivityEvent
from recalc.models import RecalcJob
from recalc.services import recalc_job_enqueue
from sessions_app.services import session_close, session_create

pytestmark = pytest.mark.django_db


def lines_url(session: Any, employee_id: str, action: str = "") -> str:
    return f"/api/v1/sessions/{session.pk}/employees/{quote(employee_id)}/lines/{action}"


def chase_url(session: Any, query: str = "") -> str:
    return f"/api/v1/sessions/{session.pk}/unmatched-charges/{query}"


def test_the_lines_view_has_pairs_with_rules_unmatched_lines_and_the_explanation(
    api, session, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = api.get(lines_url(session, "E1001"))

    body = response.json()
    assert response.status_code == 200
    assert [
        (p["card_line"]["amount"], p["receipt_line"]["receipt_id"], p["rule"], p["matched_by"])
        for p in body["pairs"]
    ] == [("120.50", "R-5001", "same_day", None)]
    card = body["unmatched_card_lines"][0]
    assert {k: card[k] for k in ("line_number", "date", "merchant", "amount", "version")} == {
        "line_number": 3,
        "date": "2026-10-05",
        "merchant": "HILTON GARDEN INN",
        "amount": "35.25",
        "version": None,
    }
    assert body["unmatched_receipt_lines"][0]["version"] == 1
    assert body["explanation"] == (
        "1 charge without a receipt: 2026-10-05 HILTON GARDEN INN 35.25; "
        "1 receipt without a charge: R-5002 34.50"
    )


def test_a_match_by_hand_survives_a_recalculation(
    api, session, operator, django_capture_on_commit_callbacks
):
    before = api.get(lines_url(session, "E1001")).json()
    body = {
        "card_line": before["unmatched_card_lines"][0]["id"],
        "receipt_line": before["unmatched_receipt_lines"][0]["id"],
        "note": "hotel receipt without the city tax",
        "version": before["version"],
    }

    response = api.post(lines_url(session, "E1001", "match/"), body, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        recalc_job_enqueue(session=session, kind=RecalcJob.Kind.MANUAL, actor=operator)
    after = api.get(lines_url(session, "E1001")).json()

    assert response.status_code == 200, response.json()
    assert [(p["rule"], p["matched_by"], p["note"]) for p in after["pairs"]] == [
        ("same_day", None, ""),
        ("manual", "olivia", "hotel receipt without the city tax"),
    ]
    assert after["unmatched_card_lines"] == [] and after["explanation"] == (
        "pairs matched by hand differ by 0.75"
    )
    again = api.post(lines_url(session, "E1001", "match/"), body, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "stale_version"


def test_matching_a_line_already_paired_is_a_conflict(api, session):
    lines = api.get(lines_url(session, "E1001")).json()
    body = {
        "card_line": lines["unmatched_card_lines"][0]["id"],
        "receipt_line": lines["pairs"][0]["receipt_line"]["id"],
        "note": "x",
    }

    response = api.post(lines_url(session, "E1001", "match/"), body, format="json")

    assert response.status_code == 409
    assert "already paired" in response.json()["error"]["message"]


def test_an_unmatch_answers_the_lines_view_and_writes_an_event(api, session):
    lines = api.get(lines_url(session, "E1001")).json()
    card_line = lines["pairs"][0]["card_line"]["id"]

    response = api.post(
        lines_url(session, "E1001", "unmatch/"),
        {"card_line": card_line, "note": "other trip"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["pairs"] == []
    assert len(response.json()["unmatched_card_lines"]) == 2
    assert ActivityEvent.objects.filter(verb=ActivityEvent.Verb.LINES_UNMATCHED).exists()


def test_a_viewer_reads_but_may_not_match_and_another_engagement_gets_404(
    viewer_api, outsider_api, anonymous_api, session
):
    lines = viewer_api.get(lines_url(session, "E1001"))
    card_line = lines.json()["pairs"][0]["card_line"]["id"]

    refused = viewer_api.post(
        lines_url(session, "E1001", "unmatch/"), {"card_line": card_line}, format="json"
    )

    assert lines.status_code == 200
    assert refused.status_code == 403
    assert outsider_api.get(lines_url(session, "E1001")).status_code == 404
    assert outsider_api.get(chase_url(session)).status_code == 404
    assert anonymous_api.get(chase_url(session)).status_code == 401
    assert viewer_api.get(lines_url(session, "NOBODY")).status_code == 404


def test_a_closed_session_refuses_a_match(api, session, operator):
    lines = api.get(lines_url(session, "E1001")).json()
    session_close(session=session, reason="period over", actor=operator, close_anyway=True)

    response = api.post(
        lines_url(session, "E1001", "unmatch/"),
        {"card_line": lines["pairs"][0]["card_line"]["id"]},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_closed"


def test_the_chase_list_holds_exactly_the_charges_without_a_receipt(
    api, session, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        response = api.get(chase_url(session))

    body = response.json()
    rows = [(r["employee_id"], r["merchant"], r["amount"]) for r in body["results"]]
    assert rows == [
        ("E1001", "HILTON GARDEN INN", "35.25"),
        ("E1002", "DELL MARKETING", "1250.00"),
        ("E1002", "DELL MARKETING - CREDIT", "-45.00"),
        ("E1003", "OFFICE DEPOT", "89.99"),
        ("E1004", "MARRIOTT", "200.00"),
        ("E1004", "STARBUCKS", "12.30"),
        ("E1006", "AMAZON WEB SERVICES", "999.99"),
        ("E1007", "UBER", "42.00"),
        ("E1007", "UBER", "18.00"),
    ]
    assert body["count"] == 9
    assert body["results"][0]["employee_name"] == "Zhang, Alice"
    assert set(body["results"][0]) == {
        "employee_id", "employee_name", "card_line", "line_number", "date", "merchant", "amount",
    }  # fmt: skip
    only = api.get(chase_url(session, "?employee=E1004&ordering=-amount")).json()
    assert [r["amount"] for r in only["results"]] == ["200.00", "12.30"]
    found = api.get(chase_url(session, "?search=uber&page_size=1")).json()
    assert found["count"] == 2 and found["next"] is not None
    assert api.get(chase_url(session, "?ordering=colour")).status_code == 400


def test_the_chase_list_downloads_as_csv(api, session):
    response = api.get(chase_url(session, "?format=csv&employee=E1002"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["employee_id", "employee_name", "line_number", "date", "merchant", "amount"],
        ["E1002", "Okafor, Bob", "4", "2026-10-03", "DELL MARKETING", "1250.00"],
        ["E1002", "Okafor, Bob", "5", "2026-10-09", "DELL MARKETING - CREDIT", "-45.00"],
    ]


def test_an_employee_id_with_a_slash_works_in_the_lines_routes(
    api, engagement, operator, django_capture_on_commit_callbacks
):
    card = b"Employee ID,Employee Name,Date,Merchant,Amount\nAB/12 %x,Ann,2026-10-01,TAXI,10.00\n"
    receipts = (
        b"Employee ID,Employee Name,Date,Receipt ID,Amount\nAB/12 %x,Ann,2026-10-03,R1,10.00\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        session = session_create(
            engagement=engagement, name="Slashes", period_start="2026-10-01",
            period_end="2026-10-31", tolerance="0.00",
            card_file=SimpleUploadedFile("car.csv", card),
            receipts_file=SimpleUploadedFile("r.csv", receipts), actor=operator,
        )  # fmt: skip

    response = api.get(lines_url(session, "AB/12 %x"))

    assert response.status_code == 200, response.content
    assert [p["rule"] for p in response.json()["pairs"]] == ["near_date"]
