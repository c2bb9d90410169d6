"""/api/v1/sessions/{id}/receipts/…: upload, list, reapply (rollback)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recalc.models import RecalcJob
from sessions_app.models import ReceiptVersion
from sessions_app.services import import_profile_save, session_close
from tests.api.conftest import employee
from tests.factories import ProcessingSessionFactory
from tests.samples import fixture_file

pytestmark = pytest.mark.django_db


def receipts_url(session: Any) -> str:
    return f"/api/v1/sessions/{session.pk}/receipts/"


def test_it_uploads_a_receipts_version_and_answers_202_with_its_job(
    api: Any, session: Any, on_commit: Any
) -> None:
    with on_commit():
        response = api.post(
            receipts_url(session),
            {"file": fixture_file("receipts_2026_10_v2.csv"), "note": "a week later"},
            format="multipart",
        )

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["version"]["version"] == 2
    assert body["version"]["mode"] == "replace"
    assert body["version"]["note"] == "a week later"
    assert body["version"]["uploaded_by"] == "olivia"
    assert body["job"]["kind"] == "receipts"
    assert api.get(body["job"]["url"]).json()["status"] == "completed"
    assert employee(api, session, "E1001")["receipt_amount"] == "155.75"


def test_it_appends_late_receipts_skipping_duplicates(
    api: Any, session: Any, on_commit: Any
) -> None:
    with on_commit():
        response = api.post(
            receipts_url(session),
            {"file": fixture_file("receipts_2026_10_late.csv"), "mode": "append"},
            format="multipart",
        )

    assert response.status_code == 202
    assert response.json()["version"]["duplicate_count"] == 1
    assert employee(api, session, "E1006")["status"] == "matched"


def test_it_refuses_an_identical_file_unless_forced(api: Any, session: Any, on_commit: Any) -> None:
    again = api.post(
        receipts_url(session), {"file": fixture_file("receipts_2026_10_v1.csv")}, "multipart"
    )
    with on_commit():
        forced = api.post(
            receipts_url(session),
            {"file": fixture_file("receipts_2026_10_v1.csv"), "force": "true"},
            format="multipart",
        )

    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "duplicate_file"
    assert "identical to version 1" in error["message"]
    assert error["details"]["version"] == 1
    assert forced.status_code == 202
    assert forced.json()["version"]["version"] == 2


def test_it_rejects_a_bad_file_with_every_row_error_and_changes_nothing(
    api: Any, session: Any, db_state: Any
) -> None:
    before = db_state()

    response = api.post(
        receipts_url(session), {"file": fixture_file("receipts_bad.csv")}, format="multipart"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_file"
    assert error["error_count"] == 3
    assert [row["line"] for row in error["details"]] == [2, 3, 4]
    assert error["details"][0]["value"] == "12.3.4"
    assert error["details"][2]["value"] == "ten dollars"
    assert all(row["message"] for row in error["details"])
    assert db_state() == before


def test_it_refuses_an_oversized_upload_before_reading_it(
    api: Any, session: Any, settings: Any, db_state: Any
) -> None:
    settings.UPLOAD_MAX_MB = 1
    before = db_state()
    big = SimpleUploadedFile("r.csv", b"Employee ID,Amount\n" + b"E1,1.00\n" * 300_000)

    response = api.post(receipts_url(session), {"file": big}, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_file"
    assert "larger than 1 MB" in response.json()["error"]["details"][0]["message"]
    assert db_state() == before


def test_it_refuses_an_empty_or_missing_file(api: Any, session: Any) -> None:
    empty = api.post(
        receipts_url(session), {"file": SimpleUploadedFile("r.csv", b"")}, format="multipart"
    )
    missing = api.post(receipts_url(session), {"note": "x"}, format="multipart")

    assert empty.status_code == 400 and "file" in empty.json()["error"]["details"]
    assert missing.status_code == 400 and "file" in missing.json()["error"]["details"]


def test_it_refuses_json_where_a_file_is_expected(api: Any, session: Any) -> None:
    response = api.post(receipts_url(session), {"file": "x"}, format="json")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_it_reads_a_file_through_a_named_profile(
    api: Any, session: Any, operator: Any, on_commit: Any
) -> None:
    import_profile_save(
        engagement=session.engagement,
        data={"name": "Expense tool (EU)", "delimiter": ";", "encoding": "windows-1252"},
        actor=operator,
    )
    with on_commit():
        response = api.post(
            receipts_url(session),
            {
                "file": fixture_file("receipts_2026_10_v1_cp1252_semicolon.csv"),
                "profile": "Expense tool (EU)",
                "force": "true",
            },
            format="multipart",
        )

    assert response.status_code == 202, response.json()
    assert response.json()["version"]["profile"] == "Expense tool (EU)"
    assert employee(api, session, "E1001")["receipt_amount"] == "155.00"


def test_it_uploads_for_a_preview_that_waits_for_confirmation(
    api: Any, session: Any, on_commit: Any
) -> None:
    with on_commit():
        response = api.post(
            receipts_url(session),
            {"file": fixture_file("receipts_2026_10_v2.csv"), "preview": "true"},
            format="multipart",
        )

    job = api.get(response.json()["job"]["url"]).json()
    assert job["status"] == "awaiting_confirmation"
    assert employee(api, session, "E1001")["receipt_amount"] == "155.00"


def test_it_lists_receipt_versions(api: Any, viewer_api: Any, session: Any) -> None:
    response = viewer_api.get(receipts_url(session))

    assert response.status_code == 200
    (version,) = response.json()["results"]
    assert version["version"] == 1
    assert version["row_count"] > 0
    assert len(version["sha256"]) == 64
    assert version["state"] == "applied"


@pytest.mark.parametrize("count", [2, 30])
def test_it_lists_receipt_versions_in_a_fixed_number_of_queries(
    api: Any, engagement: Any, operator: Any, count: int, django_assert_max_num_queries: Any
) -> None:
    session = ProcessingSessionFactory(engagement=engagement)
    for number in range(1, count + 1):
        ReceiptVersion.objects.create(
            session=session,
            version=number,
            sha256=f"{number:064d}",
            uploaded_by=operator,
            copied_from=ReceiptVersion.objects.filter(session=session).first(),
        )

    with django_assert_max_num_queries(5):
        response = api.get(receipts_url(session) + "?page_size=100")

    assert response.json()["count"] == count


def test_it_rolls_back_to_an_earlier_version(
    api: Any, session: Any, upload_receipts: Any, on_commit: Any
) -> None:
    upload_receipts(session, "receipts_2026_10_v2.csv")

    with on_commit():
        response = api.post(
            f"/api/v1/sessions/{session.pk}/receipts/1/reapply/", {"note": ""}, format="json"
        )

    assert response.status_code == 202, response.json()
    assert response.json()["version"]["version"] == 3
    assert response.json()["version"]["copied_from"] == 1
    assert response.json()["version"]["note"] == "rollback to v1"
    assert employee(api, session, "E1001")["receipt_amount"] == "155.00"


def test_it_refuses_to_reapply_a_version_that_does_not_exist(api: Any, session: Any) -> None:
    response = api.post(f"/api/v1/sessions/{session.pk}/receipts/9/reapply/", {}, format="json")

    assert response.status_code == 400
    assert "no receipts v9" in response.json()["error"]["message"]


def test_it_refuses_uploads_to_a_closed_session(api: Any, session: Any, operator: Any) -> None:
    session_close(session=session, reason="done", actor=operator)

    upload = api.post(
        receipts_url(session), {"file": fixture_file("receipts_2026_10_v2.csv")}, "multipart"
    )
    reapply = api.post(f"/api/v1/sessions/{session.pk}/receipts/1/reapply/", {}, format="json")

    assert upload.status_code == 409 and upload.json()["error"]["code"] == "session_closed"
    assert reapply.status_code == 409
    assert api.get(receipts_url(session)).status_code == 200


def test_it_forbids_viewers_and_hides_from_outsiders(
    viewer_api: Any, outsider_api: Any, session: Any
) -> None:
    body = {"file": fixture_file("receipts_2026_10_v2.csv")}

    assert viewer_api.post(receipts_url(session), body, format="multipart").status_code == 403
    body = {"file": fixture_file("receipts_2026_10_v2.csv")}
    assert outsider_api.post(receipts_url(session), body, format="multipart").status_code == 404
    assert outsider_api.get(receipts_url(session)).status_code == 404
    assert RecalcJob.objects.filter(kind="receipts").count() == 0
