"""The whole story of the sample files (tests/fixtures, samples/README.md), driven through
HTTP only, as a script would: a token, multipart uploads, JSON, downloads."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

import pytest

from tests.samples import AFTER_V1, fixture_file

pytestmark = pytest.mark.django_db


class Script:
    """What a script holding a token does, one HTTP call at a time."""

    def __init__(self, client: Any, run_jobs: Any) -> None:
        self.client, self.run_jobs = client, run_jobs

    def ok(self, response: Any, status: int) -> Any:
        assert response.status_code == status, response.content[:2000]
        return response.json()

    def create_session(self, engagement: str) -> dict[str, Any]:
        body = {
            "engagement": engagement,
            "name": "October 2026",
            "period_start": "2026-10-01",
            "period_end": "2026-10-31",
            "tolerance": "1.00",
            "card_file": fixture_file("car_2026_10.csv"),
            "receipts_file": fixture_file("receipts_2026_10_v1.csv"),
        }
        with self.run_jobs():
            return self.ok(self.client.post("/api/v1/sessions/", body, format="multipart"), 201)

    def upload(self, session_id: int, name: str) -> dict[str, Any]:
        with self.run_jobs():
            response = self.client.post(
                f"/api/v1/sessions/{session_id}/receipts/",
                {"file": fixture_file(name), "mode": "replace"},
                format="multipart",
            )
        return self.ok(response, 202)

    def get(self, path: str) -> Any:
        return self.ok(self.client.get(path), 200)

    def employees(self, session_id: int) -> dict[str, Any]:
        rows = self.get(f"/api/v1/sessions/{session_id}/employees/?page_size=500")["results"]
        return {row["employee_id"]: row for row in rows}

    def export(self, session_id: int, key: str) -> Any:
        return self.client.post(
            f"/api/v1/sessions/{session_id}/exports/",
            {"export_type": "pvault", "delta_only": True},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    def download(self, batch: dict[str, Any]) -> list[dict[str, str]]:
        response = self.client.get(batch["download_url"])
        assert response.status_code == 200
        data = b"".join(response.streaming_content)
        assert hashlib.sha256(data).hexdigest() == response["X-Content-SHA256"] == batch["sha256"]
        return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))

    def assert_balanced(self, session_id: int) -> None:
        proof = self.get(f"/api/v1/sessions/{session_id}/proof/")
        assert proof["balanced"] is True, proof
        assert proof["statement_total"] == "3087.03"


def line(row: dict[str, str]) -> tuple[str, ...]:
    keys = ("employee_id", "change_type", "amount", "previous_exported_amount", "adjustment_amount")
    return tuple(row[key] for key in keys)


def test_it_plays_the_sample_story_through_http_only(
    engagement: Any, operator: Any, client_for: Any, on_commit: Any
) -> None:
    script = Script(client_for(operator), on_commit)

    # CAR + v1: the statuses of the README, every job finished.
    session = script.create_session("acme-corp")
    sid = session["id"]
    detail = script.get(f"/api/v1/sessions/{sid}/")
    assert (detail["status"], detail["active_job"], detail["employee_count"]) == (
        "completed",
        None,
        8,
    )
    employees = script.employees(sid)
    assert {
        key: (row["car_amount"], row["receipt_amount"], row["status"])
        for key, row in employees.items()
    } == AFTER_V1
    script.assert_balanced(sid)

    # The first delta export: E1001, E1002, E1005, E1007, all NEW, 1484.75.
    preview = script.get(f"/api/v1/sessions/{sid}/export-delta/pvault/")
    assert (preview["employee_count"], preview["total_amount"]) == (4, "1484.75")
    first = script.ok(script.export(sid, "story-1"), 201)
    assert (first["employee_count"], first["total_amount"]) == (4, "1484.75")
    assert first["batch_code"] == "PV-2026-10-001"
    assert [line(row) for row in script.download(first)] == [
        ("E1001", "NEW", "155.75", "0.00", "155.75"),
        ("E1002", "NEW", "1205.00", "0.00", "1205.00"),
        ("E1005", "NEW", "64.00", "0.00", "64.00"),
        ("E1007", "NEW", "60.00", "0.00", "60.00"),
    ]
    assert script.ok(script.export(sid, "story-1"), 200)["id"] == first["id"]  # a retry
    script.assert_balanced(sid)

    # v2 replaces v1: the change summary of the README.
    upload = script.upload(sid, "receipts_2026_10_v2.csv")
    assert upload["version"]["version"] == 2
    assert script.get(upload["job"]["url"])["status"] == "completed"
    summary = script.get(f"/api/v1/sessions/{sid}/change-summary/")
    assert {k: summary[k] for k in ("new", "changed", "unchanged", "not_ready", "total")} == {
        "new": 3,
        "changed": 1,
        "unchanged": 2,
        "not_ready": 2,
        "total": 8,
    }
    employees = script.employees(sid)
    assert employees["E1001"]["change"] == "changed"
    assert employees["E1001"]["previous_receipt_amount"] == "155.00"
    assert (employees["E1005"]["status"], employees["E1005"]["receipt_amount"]) == (
        "excess_receipts",
        "74.00",
    )
    script.assert_balanced(sid)

    # The second delta export holds exactly E1001 (CHANGED, adjustment 0.00) and three NEW.
    second = script.ok(script.export(sid, "story-2"), 201)
    assert second["batch_code"] == "PV-2026-10-002"
    rows = script.download(second)
    assert [line(row) for row in rows] == [
        ("E1001", "CHANGED", "155.75", "155.75", "0.00"),
        ("E1003", "NEW", "89.99", "0.00", "89.99"),
        ("E1004", "NEW", "512.30", "0.00", "512.30"),
        ("E1006", "NEW", "999.99", "0.00", "999.99"),
    ]
    assert {row["receipt_amount"] for row in rows if row["employee_id"] == "E1001"} == {"155.75"}
    script.assert_balanced(sid)

    # And a third one right after: nothing new to export.
    third = script.export(sid, "story-3")
    assert third.status_code == 409
    assert third.json()["error"]["code"] == "nothing_to_export"
    history = script.get(f"/api/v1/sessions/{sid}/exports/")
    assert [batch["batch_code"] for batch in history["results"]] == [
        "PV-2026-10-002",
        "PV-2026-10-001",
    ]
    assert script.get(f"/api/v1/sessions/{sid}/")["export_count"] == 2
