"""/api/v1/sessions/{id}/employees/…: the per-employee results, filters, resolution."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sessions_app.models import EmployeeRevision
from sessions_app.services import session_close
from tests.factories import EmployeeRevisionFactory, ProcessingSessionFactory
from tests.samples import AFTER_V1

pytestmark = pytest.mark.django_db

EMPLOYEE_FIELDS = {
    "employee_id",
    "employee_name",
    "car_amount",
    "receipt_amount",
    "difference",
    "status",
    "change",
    "previous_car_amount",
    "previous_receipt_amount",
    "amount_changed",
    "receipt_version_processed",
    "exported_amount",
    "last_export_batch",
    "exported_at",
    "version",
}


def employees_url(session: Any, query: str = "") -> str:
    return f"/api/v1/sessions/{session.pk}/employees/{query}"


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["employee_id"] for row in response.json()["results"]]


def test_it_lists_the_samples_results_exactly(api: Any, session: Any) -> None:
    response = api.get(employees_url(session))

    rows = {row["employee_id"]: row for row in response.json()["results"]}
    assert set(rows["E1001"]) >= EMPLOYEE_FIELDS
    assert {
        k: (r["car_amount"], r["receipt_amount"], r["status"]) for k, r in rows.items()
    } == AFTER_V1
    assert rows["E1001"]["change"] == "new"
    assert rows["E1003"]["change"] == "not_ready"
    assert rows["E1001"]["difference"] == "-0.75"


def test_it_filters_employees(api: Any, session: Any, export: Any) -> None:
    export(session)  # E1001, E1002, E1005, E1007 go to pVault

    assert ids(api.get(employees_url(session, "?status=missing_receipts"))) == [
        "E1003",
        "E1004",
        "E1006",
    ]
    assert ids(api.get(employees_url(session, "?change=unchanged"))) == [
        "E1001",
        "E1002",
        "E1005",
        "E1007",
    ]
    assert ids(api.get(employees_url(session, "?change=not_ready"))) == [
        "E1003",
        "E1004",
        "E1006",
        "E1008",
    ]
    assert ids(api.get(employees_url(session, "?exported=true"))) == [
        "E1001",
        "E1002",
        "E1005",
        "E1007",
    ]
    assert len(ids(api.get(employees_url(session, "?exported=false")))) == 4
    assert ids(api.get(employees_url(session, "?search=alice"))) == ["E1001"]
    row = api.get(employees_url(session, "?search=E1001")).json()["results"][0]
    assert row["exported_amount"] == "155.75"
    assert row["last_export_batch"].startswith("PV-2026-10-")


def test_it_orders_employees(api: Any, session: Any) -> None:
    by_amount = ids(api.get(employees_url(session, "?ordering=-car_amount")))

    assert by_amount[:3] == ["E1002", "E1006", "E1004"]
    assert api.get(employees_url(session, "?ordering=secret")).status_code == 400


def test_it_refuses_unknown_filter_values(api: Any, session: Any) -> None:
    response = api.get(employees_url(session, "?change=maybe&exported=perhaps"))

    assert response.status_code == 400
    assert {"change", "exported"} <= set(response.json()["error"]["details"])


@pytest.mark.parametrize("count", [5, 120])
def test_it_lists_employees_in_a_fixed_number_of_queries(
    api: Any, engagement: Any, count: int, django_assert_max_num_queries: Any
) -> None:
    session = ProcessingSessionFactory(engagement=engagement)
    for index in range(count):
        status = "matched" if index % 2 else "missing_receipts"
        EmployeeRevisionFactory(session=session, status=status)

    with django_assert_max_num_queries(5):
        response = api.get(employees_url(session, "?page_size=500"))

    assert response.json()["count"] == count


def test_it_hides_employees_from_outsiders(outsider_api: Any, session: Any) -> None:
    assert outsider_api.get(employees_url(session)).status_code == 404
    assert outsider_api.get(employees_url(session, "E1003/")).status_code == 404


def test_it_shows_one_employee(viewer_api: Any, session: Any) -> None:
    response = viewer_api.get(employees_url(session, "E1004/"))

    assert response.status_code == 200
    assert response.json()["car_amount"] == "512.30"
    assert viewer_api.get(employees_url(session, "E9999/")).status_code == 404
    assert viewer_api.get(employees_url(session, "E1%00/")).status_code == 404


# --- Resolve --------------------------------------------------------------------------------------


def resolve(client: Any, session: Any, employee_id: str, **body: Any) -> Any:
    payload = {"action": "resolve", "note": "Receipt lost, manager approved", "version": 1}
    payload.update(body)
    return client.patch(employees_url(session, f"{employee_id}/"), payload, format="json")


def test_it_resolves_an_exception_with_a_note(api: Any, session: Any) -> None:
    response = resolve(api, session, "E1003")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["version"], body["change"]) == ("resolved", 2, "new")
    assert body["resolution_note"] == "Receipt lost, manager approved"
    assert body["resolved_by"] == "olivia"


def test_it_refuses_a_stale_version_with_409(api: Any, session: Any) -> None:
    resolve(api, session, "E1003")

    stale = resolve(api, session, "E1003", note="another view of it")

    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "stale_version"
    assert error["details"]["current_version"] == 2
    assert "olivia" in error["message"]
    revision = EmployeeRevision.objects.get(session=session, employee_id="E1003")
    assert revision.resolution_note == "Receipt lost, manager approved"


def test_it_needs_a_note_a_version_and_a_known_action(api: Any, session: Any) -> None:
    response = api.patch(employees_url(session, "E1003/"), {"action": "delete"}, format="json")

    assert response.status_code == 400
    assert {"action", "note", "version"} <= set(response.json()["error"]["details"])


def test_it_refuses_to_resolve_a_matched_employee(api: Any, session: Any) -> None:
    response = resolve(api, session, "E1001")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"


def test_it_refuses_to_resolve_in_a_closed_session(api: Any, session: Any, operator: Any) -> None:
    session_close(session=session, reason="done", actor=operator)

    response = resolve(api, session, "E1003")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_closed"


def test_it_forbids_viewers_to_resolve(viewer_api: Any, outsider_api: Any, session: Any) -> None:
    assert resolve(viewer_api, session, "E1003").status_code == 403
    assert resolve(outsider_api, session, "E1003").status_code == 404
    revision = EmployeeRevision.objects.get(session=session, employee_id="E1003")
    assert revision.status == "missing_receipts"
    assert revision.car_amount == Decimal("89.99")
