"""POST /api/v1/sessions/{id}/card/: replacing the card statement (SPEC §7)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recalc.models import RecalcJob
from recalc.services import session_recalculate
from sessions_app.services import import_profile_save, session_close
from tests.api.conftest import employee
from tests.samples import CORRECTED, fixture_file

pytestmark = pytest.mark.django_db


def card_url(session: Any) -> str:
    return f"/api/v1/sessions/{session.pk}/card/"


def test_it_replaces_the_statement_and_answers_202_with_the_session_and_its_job(
    api: Any, session: Any, on_commit: Any
) -> None:
    with on_commit():
        response = api.post(
            card_url(session),
            {"file": fixture_file(CORRECTED), "note": "bank re-issued it"},
            format="multipart",
        )

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["session"]["id"] == session.pk
    assert body["session"]["status"] == "reprocessing"
    assert body["session"]["active_job"]["id"] == body["job"]["id"]
    assert body["job"]["kind"] == "card"
    assert body["job"]["status"] == "queued"
    assert api.get(body["job"]["url"]).json()["status"] == "completed"
    assert employee(api, session, "E1002")["car_amount"] == "1250.00"
    assert employee(api, session, "E1002")["status"] == "missing_receipts"
    assert employee(api, session, "E1009")["car_amount"] == "50.00"
    assert employee(api, session, "E1006")["car_amount"] == "0.00"
    proof = api.get(f"/api/v1/sessions/{session.pk}/proof/").json()
    assert proof["statement_total"] == "1659.75"


def test_it_reads_the_file_through_a_named_profile(
    api: Any, session: Any, operator: Any, on_commit: Any
) -> None:
    import_profile_save(
        engagement=session.engagement,
        data={"name": "Bank (semicolons)", "delimiter": ";"},
        actor=operator,
    )
    upload = SimpleUploadedFile(
        "car.csv", b"Employee ID;Cardholder Name;Amount\nE1001;Alice Zhang;155.75\n"
    )

    with on_commit():
        response = api.post(
            card_url(session),
            {"file": upload, "profile": "Bank (semicolons)"},
            format="multipart",
        )

    assert response.status_code == 202, response.json()
    assert employee(api, session, "E1001")["status"] == "matched"
    assert employee(api, session, "E1002")["car_amount"] == "0.00"


def test_it_answers_400_for_an_unknown_profile(api: Any, session: Any) -> None:
    response = api.post(
        card_url(session), {"file": fixture_file(CORRECTED), "profile": "Nope"}, "multipart"
    )

    assert response.status_code == 400
    assert "No import profile named 'Nope'" in response.json()["error"]["message"]


def test_it_answers_409_after_a_pvault_export(
    api: Any, session: Any, export: Any, db_state: Any
) -> None:
    batch = export(session)
    before = db_state()

    response = api.post(card_url(session), {"file": fixture_file(CORRECTED)}, "multipart")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "card_replace_not_allowed"
    assert batch.batch_code in error["message"]
    assert "Open a new session" in error["message"]
    assert error["details"]["batch_code"] == batch.batch_code
    assert db_state() == before


def test_it_answers_409_for_an_identical_file_unless_forced(
    api: Any, session: Any, on_commit: Any
) -> None:
    again = api.post(card_url(session), {"file": fixture_file("car_2026_10.csv")}, "multipart")
    with on_commit():
        forced = api.post(
            card_url(session),
            {"file": fixture_file("car_2026_10.csv"), "force": "true"},
            format="multipart",
        )

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "duplicate_file"
    assert "identical to the current card statement" in again.json()["error"]["message"]
    assert forced.status_code == 202
    assert forced.json()["job"]["kind"] == "card"


def test_it_answers_409_while_a_job_is_active(
    api: Any, session: Any, operator: Any, db_state: Any
) -> None:
    queued = session_recalculate(session=session, actor=operator)
    before = db_state()

    response = api.post(card_url(session), {"file": fixture_file(CORRECTED)}, "multipart")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_active"
    assert response.json()["error"]["details"]["job"] == queued.pk
    assert db_state() == before


def test_it_answers_409_for_a_closed_session(api: Any, session: Any, operator: Any) -> None:
    session_close(session=session, reason="done", actor=operator)

    response = api.post(card_url(session), {"file": fixture_file(CORRECTED)}, "multipart")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_closed"


def test_it_answers_400_with_every_row_error_and_changes_nothing(
    api: Any, session: Any, db_state: Any
) -> None:
    before = db_state()
    bad = SimpleUploadedFile(
        "car_bad.csv",
        b"Employee ID,Cardholder Name,Amount\nE1001,Alice,12.3.4\nE1002,Bob,ten dollars\n",
    )

    response = api.post(card_url(session), {"file": bad}, format="multipart")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_file"
    assert error["error_count"] == 2
    assert [row["line"] for row in error["details"]] == [2, 3]
    assert error["details"][1]["value"] == "ten dollars"
    assert db_state() == before


def test_it_answers_400_without_a_file(api: Any, session: Any) -> None:
    response = api.post(card_url(session), {"note": "x"}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()["error"]["details"]


def test_it_forbids_viewers_and_hides_from_outsiders(
    viewer_api: Any, outsider_api: Any, session: Any
) -> None:
    viewer = viewer_api.post(card_url(session), {"file": fixture_file(CORRECTED)}, "multipart")
    outsider = outsider_api.post(card_url(session), {"file": fixture_file(CORRECTED)}, "multipart")
    missing = viewer_api.post("/api/v1/sessions/999999/card/", {}, format="multipart")

    assert viewer.status_code == 403
    assert viewer.json()["error"]["code"] == "permission_denied"
    assert outsider.status_code == 404
    assert outsider.json()["error"]["code"] == "not_found"
    assert missing.status_code == 404
    assert not RecalcJob.objects.filter(kind=RecalcJob.Kind.CARD).exists()
