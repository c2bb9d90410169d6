"""/api/v1/…exports…: change summary, proof, preview, create (idempotent), history,
download, void, mark-exported, bulk export."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from decimal import Decimal
from typing import Any

import pytest

from exports.models import ExportBatch
from sessions_app.services import session_close
from tests.factories import EmployeeRevisionFactory, ProcessingSessionFactory

pytestmark = pytest.mark.django_db

BATCH_FIELDS = {
    "id",
    "batch_code",
    "export_type",
    "delta_only",
    "employee_count",
    "total_amount",
    "file_size",
    "sha256",
    "exported_by",
    "created_at",
    "download_url",
    "warnings",
}


def exports_url(session: Any) -> str:
    return f"/api/v1/sessions/{session.pk}/exports/"


def create(client: Any, session: Any, key: str | None = None, **body: Any) -> Any:
    body.setdefault("export_type", "pvault")
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(exports_url(session), body, format="json", **headers)


def content(response: Any) -> bytes:
    return b"".join(response.streaming_content)


# --- Change summary, proof, preview ---------------------------------------------------------------


def test_it_summarises_changes_with_amounts(viewer_api: Any, session: Any) -> None:
    response = viewer_api.get(f"/api/v1/sessions/{session.pk}/change-summary/")

    assert response.status_code == 200
    assert response.json() == {
        "new": 4,
        "changed": 0,
        "unchanged": 0,
        "not_ready": 4,
        "total": 8,
        "amounts": {
            "new": "1484.75",
            "changed": "0.00",
            "unchanged": "0.00",
            "not_ready": "1602.28",
            "total": "3087.03",
        },
    }


def test_it_proves_the_session_balances(viewer_api: Any, session: Any, export: Any) -> None:
    export(session)

    response = viewer_api.get(f"/api/v1/sessions/{session.pk}/proof/")

    assert response.json() == {
        "statement_total": "3087.03",
        "exported": "1484.75",
        "pending": "0.00",
        "exceptions": "1602.28",
        "balanced": True,
        "difference": "0.00",
        "offending_employees": [],
    }


def test_it_previews_a_delta_export(viewer_api: Any, session: Any) -> None:
    response = viewer_api.get(f"/api/v1/sessions/{session.pk}/export-delta/pvault/")

    assert response.status_code == 200
    body = response.json()
    assert (body["new_count"], body["changed_count"], body["employee_count"]) == (4, 0, 4)
    assert body["total_amount"] == "1484.75"
    assert body["warnings"] == []
    assert [row["employee_id"] for row in body["employees"]] == ["E1001", "E1002", "E1005", "E1007"]


def test_it_warns_in_a_full_preview_about_already_exported_employees(
    api: Any, session: Any, export: Any
) -> None:
    batch = export(session)

    delta = api.get(f"/api/v1/sessions/{session.pk}/export-delta/pvault/").json()
    full = api.get(f"/api/v1/sessions/{session.pk}/export-delta/pvault/?include_exported=true")

    assert delta["employee_count"] == 0
    assert [w["code"] for w in delta["warnings"]] == ["nothing_to_export"]
    body = full.json()
    assert (body["employee_count"], body["already_exported_count"]) == (4, 4)
    assert body["already_exported_batches"] == [
        {"batch_code": batch.batch_code, "employee_count": 4}
    ]
    assert "already_exported" in [w["code"] for w in body["warnings"]]


@pytest.mark.parametrize("count", [5, 150])
def test_it_previews_in_a_fixed_number_of_queries(
    api: Any, engagement: Any, operator: Any, count: int, django_assert_max_num_queries: Any
) -> None:
    session = ProcessingSessionFactory(engagement=engagement)
    earlier = ExportBatch.objects.create(
        session=session, batch_code="PV-X", period="2026-10", sequence=1, export_type="pvault"
    )
    for index in range(count):
        resolved = index % 3 == 0
        # Every third resolved by the operator, every other one exported before with other
        # amounts (so "changed"): rows whose serialiser follows two foreign keys.
        EmployeeRevisionFactory(
            session=session,
            status="resolved" if resolved else "matched",
            resolution_note="ok" if resolved else "",
            resolved_by=operator if resolved else None,
            last_export_batch=earlier if index % 2 else None,
            exported_car_amount=Decimal("1.00") if index % 2 else None,
            exported_receipt_amount=Decimal("1.00") if index % 2 else None,
        )

    with django_assert_max_num_queries(9):
        response = api.get(f"/api/v1/sessions/{session.pk}/export-delta/pvault/")

    assert response.json()["employee_count"] == count
    assert len(response.json()["employees"]) == count


def test_it_answers_404_for_an_unknown_export_type(api: Any, session: Any) -> None:
    response = api.get(f"/api/v1/sessions/{session.pk}/export-delta/excel/")

    assert response.status_code == 404
    assert "pvault or exceptions" in response.json()["error"]["message"]


def test_it_hides_reads_from_outsiders(outsider_api: Any, session: Any) -> None:
    for path in ("change-summary/", "proof/", "export-delta/pvault/", "exports/"):
        assert outsider_api.get(f"/api/v1/sessions/{session.pk}/{path}").status_code == 404


# --- Create ---------------------------------------------------------------------------------------


def test_it_generates_a_delta_export(api: Any, session: Any) -> None:
    response = create(api, session)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= BATCH_FIELDS
    assert body["batch_code"] == "PV-2026-10-001"
    assert (body["employee_count"], body["total_amount"]) == (4, "1484.75")
    assert body["exported_by"] == "olivia"
    assert body["download_url"] == f"/api/v1/exports/{body['id']}/download/"


def test_it_replays_an_idempotency_key_with_200_and_the_same_batch(api: Any, session: Any) -> None:
    first = create(api, session, key="run-2026-10-31")
    replay = create(api, session, key="run-2026-10-31")

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()
    assert ExportBatch.objects.count() == 1


@pytest.mark.parametrize("key", ["k" * 101, "run\x00one", "line\nbreak"])
def test_it_refuses_an_unusable_idempotency_key(api: Any, session: Any, key: str) -> None:
    response = create(api, session, key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["details"]
    assert ExportBatch.objects.count() == 0


def test_it_says_nothing_to_export_with_409(api: Any, session: Any) -> None:
    create(api, session)

    again = create(api, session)

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "nothing_to_export"


def test_it_needs_confirmation_and_a_reason_to_resend(api: Any, session: Any) -> None:
    create(api, session)

    unconfirmed = create(api, session, delta_only=False)
    confirmed = create(api, session, delta_only=False, confirm=True, reason="pVault reload")

    assert unconfirmed.status_code == 409
    assert unconfirmed.json()["error"]["code"] == "confirm_required"
    assert confirmed.status_code == 201, confirmed.json()
    assert confirmed.json()["reason"] == "pVault reload"


def test_it_generates_an_exceptions_report_as_xlsx(api: Any, session: Any) -> None:
    response = create(api, session, export_type="exceptions", file_format="xlsx")

    assert response.status_code == 201, response.json()
    download = api.get(response.json()["download_url"])
    assert download["Content-Disposition"] == (
        f'attachment; filename="{response.json()["batch_code"]}.xlsx"'
    )
    assert content(download)[:2] == b"PK"


def test_it_refuses_an_unknown_export_type(api: Any, session: Any) -> None:
    response = create(api, session, export_type="csv")

    assert response.status_code == 400
    assert "export_type" in response.json()["error"]["details"]


def test_it_refuses_exports_of_a_closed_session(api: Any, session: Any, operator: Any) -> None:
    session_close(session=session, reason="done", actor=operator)

    response = create(api, session)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_closed"


def test_it_forbids_viewers_to_export(viewer_api: Any, outsider_api: Any, session: Any) -> None:
    assert create(viewer_api, session).status_code == 403
    assert create(outsider_api, session).status_code == 404
    assert ExportBatch.objects.count() == 0


# --- History, download ----------------------------------------------------------------------------


def test_it_lists_export_history_newest_first(api: Any, session: Any, export: Any) -> None:
    first = export(session)
    second = export(session, export_type="exceptions")

    response = api.get(exports_url(session))

    assert [row["batch_code"] for row in response.json()["results"]] == [
        second.batch_code,
        first.batch_code,
    ]


@pytest.mark.parametrize("count", [2, 25])
def test_it_lists_export_history_in_a_fixed_number_of_queries(
    api: Any, engagement: Any, operator: Any, count: int, django_assert_max_num_queries: Any
) -> None:
    session = ProcessingSessionFactory(engagement=engagement)
    for number in range(1, count + 1):
        ExportBatch.objects.create(
            session=session,
            batch_code=f"PV-2026-10-{number:03d}-{session.pk}",
            period="2026-10",
            sequence=number,
            export_type="pvault",
            exported_by=operator,
        )

    with django_assert_max_num_queries(5):
        response = api.get(exports_url(session) + "?page_size=100")

    assert response.json()["count"] == count


def test_it_downloads_identical_bytes_with_the_batch_code_and_sha256(
    viewer_api: Any, session: Any, export: Any
) -> None:
    batch = export(session)

    first = viewer_api.get(f"/api/v1/exports/{batch.pk}/download/")
    second = viewer_api.get(f"/api/v1/exports/{batch.pk}/download/")

    assert first.status_code == 200
    assert first["Content-Type"].startswith("text/csv")
    assert first["Content-Disposition"] == f'attachment; filename="{batch.batch_code}.csv"'
    data = content(first)
    assert data == content(second)
    assert hashlib.sha256(data).hexdigest() == first["X-Content-SHA256"] == batch.sha256
    assert data.startswith(b"batch_code,employee_id,employee_name,amount,")


def test_it_refuses_to_serve_a_tampered_file(api: Any, session: Any, export: Any) -> None:
    batch = export(session)
    with batch.file.open("wb") as stored:
        stored.write(b"batch_code,employee_id\r\nPV,E1\r\n")

    response = api.get(f"/api/v1/exports/{batch.pk}/download/")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "export_file_corrupt"


def test_it_hides_downloads_from_outsiders(outsider_api: Any, session: Any, export: Any) -> None:
    batch = export(session)

    response = outsider_api.get(f"/api/v1/exports/{batch.pk}/download/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_it_allows_downloads_from_a_closed_session(
    api: Any, session: Any, export: Any, operator: Any
) -> None:
    batch = export(session)
    session_close(session=session, reason="done", actor=operator)

    assert api.get(f"/api/v1/exports/{batch.pk}/download/").status_code == 200


# --- Void, mark-exported --------------------------------------------------------------------------


def test_it_voids_a_batch_for_staff_restoring_the_snapshots(
    staff_api: Any, api: Any, session: Any, export: Any
) -> None:
    batch = export(session)

    response = staff_api.post(
        f"/api/v1/exports/{batch.pk}/void/", {"reason": "pVault rejected"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["void_reason"]) == (
        "void",
        "pVault rejected",
    )
    assert response.json()["voided_by"] == "sam"
    assert api.get(f"/api/v1/sessions/{session.pk}/change-summary/").json()["new"] == 4


def test_it_keeps_voids_for_staff_and_needs_a_reason(
    api: Any, staff_api: Any, session: Any, export: Any
) -> None:
    batch = export(session)

    by_operator = api.post(f"/api/v1/exports/{batch.pk}/void/", {"reason": "x"}, format="json")
    no_reason = staff_api.post(f"/api/v1/exports/{batch.pk}/void/", {}, format="json")

    assert by_operator.status_code == 403
    assert no_reason.status_code == 400
    batch.refresh_from_db()
    assert batch.status == "active"


def test_it_refuses_to_void_twice(staff_api: Any, session: Any, export: Any) -> None:
    batch = export(session)
    staff_api.post(f"/api/v1/exports/{batch.pk}/void/", {"reason": "x"}, format="json")

    again = staff_api.post(f"/api/v1/exports/{batch.pk}/void/", {"reason": "x"}, format="json")

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_state"


def test_it_marks_a_batch_generated_without_marking(api: Any, session: Any) -> None:
    batch = create(api, session, mark_as_exported=False).json()
    url = f"/api/v1/sessions/{session.pk}/mark-exported/"

    partial = api.post(url, {"batch_id": batch["id"], "employee_ids": ["E1001"]}, format="json")
    rest = api.post(url, {"batch_id": batch["id"]}, format="json")

    assert partial.status_code == 200, partial.json()
    assert partial.json()["marked"] == 1
    assert rest.json()["marked"] == 3
    assert rest.json()["batch"]["marked_at"] is not None
    summary = api.get(f"/api/v1/sessions/{session.pk}/change-summary/").json()
    assert (summary["new"], summary["unchanged"]) == (0, 4)


def test_it_refuses_to_mark_another_sessions_batch(
    api: Any, viewer_api: Any, session: Any, make_session: Any, export: Any
) -> None:
    other = make_session(name="Other")
    batch = export(other, mark_as_exported=False)
    url = f"/api/v1/sessions/{session.pk}/mark-exported/"

    assert api.post(url, {"batch_id": batch.pk}, format="json").status_code == 404
    assert viewer_api.post(url, {"batch_id": batch.pk}, format="json").status_code == 403
    assert api.post(url, {"batch_id": "x"}, format="json").status_code == 400


# --- Bulk export ----------------------------------------------------------------------------------


def test_it_bulk_exports_for_staff_as_one_zip_with_per_session_results(
    staff_api: Any, make_session: Any, operator: Any
) -> None:
    ready = make_session(name="October A")
    closed = make_session(name="October B")
    session_close(session=closed, reason="done", actor=operator)

    response = staff_api.post(
        "/api/v1/sessions/bulk-export/",
        {"session_ids": [ready.pk, closed.pk, 999999]},
        format="json",
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["X-Export-Summary"] == "sessions=3 ok=1 failed=2"
    archive = zipfile.ZipFile(io.BytesIO(content(response)))
    results = json.loads(archive.read("manifest.json"))["results"]
    assert [(r["session_id"], r["ok"]) for r in results] == [
        (ready.pk, True),
        (closed.pk, False),
        (999999, False),
    ]
    assert "manifest.csv" in archive.namelist()
    assert "No such session." in archive.read("manifest.csv").decode()
    assert any(name.endswith(f"{results[0]['batch_code']}.csv") for name in archive.namelist())


def test_it_keeps_bulk_export_for_staff(api: Any, session: Any) -> None:
    response = api.post(
        "/api/v1/sessions/bulk-export/", {"session_ids": [session.pk]}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert ExportBatch.objects.count() == 0
