"""/api/v1/sessions/…: list, create, retrieve, update, close, bulk close."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import ActivityEvent
from exports.services import export_batch_create
from recalc.models import RecalcJob
from sessions_app.models import EmployeeRevision, ProcessingSession
from sessions_app.services import import_profile_save
from tests.factories import (
    EmployeeRevisionFactory,
    EngagementFactory,
    MembershipFactory,
    ProcessingSessionFactory,
)
from tests.samples import fixture_file

pytestmark = pytest.mark.django_db

SESSION_FIELDS = {
    "id",
    "engagement",
    "name",
    "period_start",
    "period_end",
    "tolerance",
    "status",
    "receipt_file_versions",
    "last_receipt_upload",
    "employee_count",
    "matched_count",
    "exception_count",
    "export_count",
    "last_export_at",
    "active_job",
    "created_by",
    "created_at",
    "closed_at",
    "closure_reason",
    "card_import_summary",
}


def create_body(to: Any, **overrides: Any) -> dict[str, Any]:
    body = {
        "engagement": to.slug,
        "name": "October 2026",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "tolerance": "1.00",
        "card_file": fixture_file("car_2026_10.csv"),
        "receipts_file": fixture_file("receipts_2026_10_v1.csv"),
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


# --- List -----------------------------------------------------------------------------------------


def test_it_lists_the_users_sessions_with_their_figures(api: Any, session: Any) -> None:
    response = api.get("/api/v1/sessions/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1 and body["next"] is None and body["previous"] is None
    row = body["results"][0]
    assert set(row) == SESSION_FIELDS
    assert row["engagement"] == "acme-corp"
    assert row["tolerance"] == "1.00"
    assert row["status"] == "completed"
    assert (row["employee_count"], row["matched_count"], row["exception_count"]) == (8, 4, 4)
    assert row["receipt_file_versions"] == 1
    assert row["active_job"] is None
    assert row["created_by"] == "olivia"


def test_it_filters_sessions_by_status_engagement_and_search(
    api: Any, operator: Any, engagement: Any
) -> None:
    other = EngagementFactory(name="Beta Ltd", slug="beta-ltd")
    MembershipFactory(user=operator, engagement=other)
    ProcessingSessionFactory(engagement=engagement, name="October", status="completed")
    ProcessingSessionFactory(engagement=engagement, name="November", status="processing")
    ProcessingSessionFactory(engagement=other, name="October Beta", status="completed")

    def names(query: str) -> list[str]:
        response = api.get(f"/api/v1/sessions/?{query}&ordering=name")
        assert response.status_code == 200, response.json()
        return [row["name"] for row in response.json()["results"]]

    assert names("status=completed") == ["October", "October Beta"]
    assert names("engagement=beta-ltd") == ["October Beta"]
    assert names(f"engagement={other.pk}") == ["October Beta"]
    assert names("search=octo") == ["October", "October Beta"]
    assert names("search=beta") == ["October Beta"]


def test_it_orders_and_pages_sessions(api: Any, engagement: Any) -> None:
    for name in ("b", "c", "a"):
        ProcessingSessionFactory(engagement=engagement, name=name)

    first = api.get("/api/v1/sessions/?ordering=-name&page_size=2").json()
    second = api.get(first["next"]).json()

    assert [row["name"] for row in first["results"]] == ["c", "b"]
    assert [row["name"] for row in second["results"]] == ["a"]
    assert first["count"] == 3


def test_it_refuses_unknown_filters_values_and_orderings(api: Any) -> None:
    bad_status = api.get("/api/v1/sessions/?status=archived")
    bad_ordering = api.get("/api/v1/sessions/?ordering=password")

    assert bad_status.status_code == 400
    assert bad_status.json()["error"]["code"] == "invalid"
    assert "status" in bad_status.json()["error"]["details"]
    assert bad_ordering.status_code == 400
    assert "ordering" in bad_ordering.json()["error"]["details"]


def test_it_refuses_an_engagement_that_is_neither_an_id_nor_a_slug(
    api: Any, engagement: Any
) -> None:
    listed = api.get("/api/v1/sessions/?engagement=%C2%B2")
    created = api.post("/api/v1/sessions/", create_body(engagement, engagement="²"), "multipart")

    assert listed.status_code == 400
    assert created.status_code == 400
    assert "engagement" in created.json()["error"]["details"]


def test_it_answers_a_page_past_the_end_with_a_json_404(api: Any) -> None:
    response = api.get("/api/v1/sessions/?page=99")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_never_lists_another_engagements_sessions(outsider_api: Any, session: Any) -> None:
    assert outsider_api.get("/api/v1/sessions/").json()["count"] == 0


def test_it_describes_a_list_endpoint_to_options(api: Any) -> None:
    response = api.options("/api/v1/sessions/")

    assert response.status_code == 200
    assert "multipart/form-data" in response.json()["parses"]


def test_it_shows_staff_every_engagements_sessions(staff_api: Any, session: Any) -> None:
    assert staff_api.get("/api/v1/sessions/").json()["count"] == 1


def _sessions_with_data(engagement: Any, operator: Any, count: int) -> None:
    for index in range(count):
        session = ProcessingSessionFactory(engagement=engagement, created_by=operator)
        for _ in range(3):
            EmployeeRevisionFactory(session=session)
        if index % 2:
            RecalcJob.objects.create(session=session, kind="manual")


@pytest.mark.parametrize("count", [3, 40])
def test_it_lists_sessions_in_a_fixed_number_of_queries(
    api: Any, engagement: Any, operator: Any, count: int, django_assert_max_num_queries: Any
) -> None:
    _sessions_with_data(engagement, operator, count)

    with django_assert_max_num_queries(4):
        response = api.get("/api/v1/sessions/?page_size=100")

    assert response.json()["count"] == count
    assert sum(1 for row in response.json()["results"] if row["active_job"]) == count // 2


# --- Create ---------------------------------------------------------------------------------------


def test_it_creates_a_session_from_multipart_files(
    api: Any, engagement: Any, on_commit: Any
) -> None:
    with on_commit():
        response = api.post("/api/v1/sessions/", create_body(engagement), format="multipart")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == SESSION_FIELDS
    assert body["name"] == "October 2026" and body["tolerance"] == "1.00"
    # The job was queued with the session; it runs once the request has committed.
    assert body["active_job"]["url"] == f"/api/v1/jobs/{body['active_job']['id']}/"
    detail = api.get(f"/api/v1/sessions/{body['id']}/").json()
    assert (detail["status"], detail["employee_count"], detail["active_job"]) == (
        "completed",
        8,
        None,
    )


def test_it_accepts_the_engagement_by_id_and_profiles_by_name(
    api: Any, engagement: Any, operator: Any, on_commit: Any
) -> None:
    import_profile_save(
        engagement=engagement, data={"name": "Bank CSV", "delimiter": ","}, actor=operator
    )
    body = create_body(engagement, engagement=str(engagement.pk), card_profile="Bank CSV")

    with on_commit():
        response = api.post("/api/v1/sessions/", body, format="multipart")

    assert response.status_code == 201, response.json()
    assert ProcessingSession.objects.get(pk=response.json()["id"]).card_profile.name == "Bank CSV"


def test_it_refuses_an_unknown_profile_name(api: Any, engagement: Any, db_state: Any) -> None:
    before = db_state()

    response = api.post(
        "/api/v1/sessions/", create_body(engagement, card_profile="Nope"), format="multipart"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "card_profile" in error["details"]
    assert db_state() == before


def test_it_lists_missing_fields(api: Any) -> None:
    response = api.post("/api/v1/sessions/", {"name": "x"}, format="multipart")

    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert {"engagement", "period_start", "period_end", "card_file"} <= set(details)


def test_it_refuses_a_period_that_ends_before_it_starts(api: Any, engagement: Any) -> None:
    body = create_body(engagement, period_start="2026-11-01", period_end="2026-10-01")

    response = api.post("/api/v1/sessions/", body, format="multipart")

    assert response.status_code == 400
    assert "ends before it starts" in response.json()["error"]["message"]


def test_it_refuses_a_bad_receipts_file_and_stores_nothing(
    api: Any, engagement: Any, db_state: Any
) -> None:
    before = db_state()
    body = create_body(engagement, receipts_file=fixture_file("receipts_bad.csv"))

    response = api.post("/api/v1/sessions/", body, format="multipart")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_file"
    assert error["error_count"] == 3
    assert [row["line"] for row in error["details"]] == [2, 3, 4]
    assert set(error["details"][0]) == {"line", "column", "value", "message"}
    assert error["details"][0]["value"] == "12.3.4"
    assert db_state() == before


def test_it_refuses_a_file_over_the_size_limit(
    api: Any, engagement: Any, settings: Any, db_state: Any
) -> None:
    settings.UPLOAD_MAX_MB = 1
    before = db_state()
    big = SimpleUploadedFile("car.csv", b"Employee ID,Amount\n" + b"E1,1.00\n" * 200_000)

    response = api.post("/api/v1/sessions/", create_body(engagement, card_file=big), "multipart")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_file"
    assert "larger than 1 MB" in response.json()["error"]["details"][0]["message"]
    assert db_state() == before


def test_it_answers_an_oversized_form_with_a_json_400(
    api: Any, engagement: Any, settings: Any, db_state: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = db_state()

    response = api.post(
        "/api/v1/sessions/", create_body(engagement, name="x" * 5000), format="multipart"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request_too_large"
    assert db_state() == before


def test_it_forbids_viewers_to_create_sessions(
    viewer_api: Any, engagement: Any, db_state: Any
) -> None:
    before = db_state()

    response = viewer_api.post("/api/v1/sessions/", create_body(engagement), format="multipart")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert db_state() == before


def test_it_hides_other_engagements_from_creators(outsider_api: Any, engagement: Any) -> None:
    response = outsider_api.post("/api/v1/sessions/", create_body(engagement), format="multipart")

    assert response.status_code == 404
    assert ProcessingSession.objects.count() == 0


# --- Retrieve and update --------------------------------------------------------------------------


def test_it_shows_one_session_to_members_only(
    api: Any, viewer_api: Any, outsider_api: Any, session: Any
) -> None:
    url = f"/api/v1/sessions/{session.pk}/"

    assert api.get(url).json()["id"] == session.pk
    assert viewer_api.get(url).status_code == 200
    hidden = outsider_api.get(url)
    assert hidden.status_code == 404
    assert hidden.json()["error"] == api.get("/api/v1/sessions/999999/").json()["error"]


def test_it_renames_a_session_and_recalculates_on_a_new_tolerance(
    api: Any, session: Any, on_commit: Any
) -> None:
    with on_commit():
        response = api.patch(
            f"/api/v1/sessions/{session.pk}/",
            {"name": "Oct 2026", "tolerance": "20.00"},
            format="json",
        )

    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Oct 2026"
    assert response.json()["tolerance"] == "20.00"
    assert api.get(f"/api/v1/sessions/{session.pk}/").json()["matched_count"] == 5


def test_it_refuses_a_negative_or_over_precise_tolerance(api: Any, session: Any) -> None:
    url = f"/api/v1/sessions/{session.pk}/"

    assert api.patch(url, {"tolerance": "-1"}, format="json").status_code == 400
    assert api.patch(url, {"tolerance": "1.001"}, format="json").status_code == 400
    huge = api.patch(url, '{"tolerance": 1e400}', content_type="application/json")
    assert huge.status_code == 400


def test_it_forbids_viewers_to_update(viewer_api: Any, session: Any) -> None:
    response = viewer_api.patch(f"/api/v1/sessions/{session.pk}/", {"name": "x"}, format="json")

    assert response.status_code == 403


# --- Close ----------------------------------------------------------------------------------------


def test_it_closes_a_session_and_then_refuses_changes_with_409(api: Any, session: Any) -> None:
    body = {"reason": "Done", "close_anyway": True}
    closed = api.post(f"/api/v1/sessions/{session.pk}/close/", body, format="json")
    again = api.post(f"/api/v1/sessions/{session.pk}/close/", {"reason": "x"}, format="json")
    rename = api.patch(f"/api/v1/sessions/{session.pk}/", {"name": "x"}, format="json")

    assert closed.status_code == 200
    assert (closed.json()["status"], closed.json()["closure_reason"]) == ("closed", "Done")
    assert again.status_code == 409 and again.json()["error"]["code"] == "session_closed"
    assert rename.status_code == 409 and rename.json()["error"]["code"] == "session_closed"
    assert "closed on" in rename.json()["error"]["message"]


def test_it_needs_a_reason_to_close(api: Any, session: Any) -> None:
    response = api.post(f"/api/v1/sessions/{session.pk}/close/", {}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()["error"]["details"]


def test_it_refuses_to_close_while_a_job_runs(api: Any, session: Any) -> None:
    job = RecalcJob.objects.create(session=session, kind="manual", status="running")

    response = api.post(f"/api/v1/sessions/{session.pk}/close/", {"reason": "x"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_active"
    assert response.json()["error"]["details"]["job"] == job.pk


def test_it_refuses_to_close_with_export_ready_employees_not_in_pvault(
    api: Any, make_session: Any
) -> None:
    session = make_session()
    url = f"/api/v1/sessions/{session.pk}/close/"
    pending = EmployeeRevision.objects.filter(session=session, status__in=["matched", "resolved"])

    refused = api.post(url, {"reason": "period over"}, format="json")

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "unexported_employees"
    assert error["details"]["count"] == pending.count() > 0
    amount = sum(revision.car_amount for revision in pending)
    assert error["details"]["amount"] == f"{amount:.2f}"
    assert f"{amount:,.2f}" in error["message"]
    session.refresh_from_db()
    assert not session.is_closed

    closed = api.post(url, {"reason": "loaded by hand", "close_anyway": True}, format="json")

    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    event = ActivityEvent.objects.get(session=session, verb=ActivityEvent.Verb.SESSION_CLOSED)
    assert event.details["close_anyway"] is True
    assert event.details["count"] == pending.count()
    assert "closed anyway" in event.message and "loaded by hand" in event.message


def test_it_closes_without_ceremony_when_everything_is_in_pvault(
    api: Any, make_session: Any, operator: Any
) -> None:
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)

    closed = api.post(f"/api/v1/sessions/{session.pk}/close/", {"reason": "done"}, format="json")

    assert closed.status_code == 200
    event = ActivityEvent.objects.get(session=session, verb=ActivityEvent.Verb.SESSION_CLOSED)
    assert event.details["close_anyway"] is False


def test_it_forbids_viewers_to_close(viewer_api: Any, outsider_api: Any, session: Any) -> None:
    url = f"/api/v1/sessions/{session.pk}/close/"

    assert viewer_api.post(url, {"reason": "x"}, format="json").status_code == 403
    assert outsider_api.post(url, {"reason": "x"}, format="json").status_code == 404


# --- Bulk close -----------------------------------------------------------------------------------


def test_it_bulk_closes_for_staff_reporting_each_session(staff_api: Any, engagement: Any) -> None:
    open_one = ProcessingSessionFactory(engagement=engagement)
    busy = ProcessingSessionFactory(engagement=engagement)
    RecalcJob.objects.create(session=busy, kind="manual", status="running")

    response = staff_api.post(
        "/api/v1/sessions/bulk-close/",
        {"session_ids": [open_one.pk, busy.pk, 999999], "reason": "Quarter closed"},
        format="json",
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["session_id"], r["ok"]) for r in results] == [
        (open_one.pk, True),
        (busy.pk, False),
        (999999, False),
    ]
    assert "still running" in results[1]["error"]
    assert results[2]["error"] == "No such session."
    open_one.refresh_from_db()
    assert open_one.status == "closed" and open_one.closure_reason == "Quarter closed"
    event = ActivityEvent.objects.get(verb=ActivityEvent.Verb.BULK_CLOSE)
    assert event.details["closed"] == [open_one.pk]


def test_it_reports_already_closed_sessions_in_a_bulk_close(
    staff_api: Any, engagement: Any
) -> None:
    session = ProcessingSessionFactory(engagement=engagement)
    body = {"session_ids": [session.pk], "reason": "x"}
    staff_api.post("/api/v1/sessions/bulk-close/", body, format="json")

    second = staff_api.post("/api/v1/sessions/bulk-close/", body, format="json")

    assert second.json()["results"][0]["ok"] is False
    assert "was closed on" in second.json()["results"][0]["error"]


def test_it_keeps_bulk_close_for_staff(api: Any, session: Any) -> None:
    response = api.post(
        "/api/v1/sessions/bulk-close/", {"session_ids": [session.pk], "reason": "x"}, format="json"
    )

    assert response.status_code == 403
    session.refresh_from_db()
    assert session.status == "completed"


def test_it_validates_a_bulk_close_request(staff_api: Any) -> None:
    empty = staff_api.post("/api/v1/sessions/bulk-close/", {"session_ids": []}, format="json")

    assert empty.status_code == 400
    assert {"session_ids", "reason"} <= set(empty.json()["error"]["details"])


def test_a_bulk_close_refuses_money_pending_unless_closed_anyway(
    staff_api: Any, make_session: Any
) -> None:
    session = make_session()
    body = {"session_ids": [session.pk], "reason": "Quarter closed"}

    refused = staff_api.post("/api/v1/sessions/bulk-close/", body, format="json")
    closed = staff_api.post(
        "/api/v1/sessions/bulk-close/", {**body, "close_anyway": True}, format="json"
    )

    assert refused.json()["results"][0]["ok"] is False
    assert "4 export-ready employees (1,484.75 USD)" in refused.json()["results"][0]["error"]
    assert closed.json()["results"][0]["ok"] is True
    session.refresh_from_db()
    assert session.is_closed
