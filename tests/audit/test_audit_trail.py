"""Audit completeness (SPEC §8): a scripted sequence of every operation, driven through
the API and the login page the way scripts and people drive it, leaves exactly the
expected events (actor, request id, IP) and history rows (user and change reason)."""

from __future__ import annotations

import logging
import re
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import ActivityEvent
from audit.selectors import history_rows_unattributed
from core.faults import injected_fault
from exports.models import ExportBatch
from recalc.models import RecalcJob
from sessions_app.models import EmployeeRevision, ProcessingSession, ReceiptVersion
from tests.factories import UserFactory
from tests.samples import fixture_file

pytestmark = pytest.mark.django_db


class Script:
    """One API client per user; every call carries the request id it is given."""

    def __init__(self, capture: Any) -> None:
        self.capture = capture
        self.clients: dict[str, APIClient] = {}

    def client(self, user: Any) -> APIClient:
        if user.username not in self.clients:
            api = APIClient()
            token, _ = Token.objects.get_or_create(user=user)
            api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
            self.clients[user.username] = api
        return self.clients[user.username]

    def call(self, user: Any, method: str, url: str, request_id: str, *, run_jobs=True, **kw):
        """The request, then (like a worker picking the job up after the commit) the jobs
        it queued; `run_jobs=False` leaves them queued."""
        with self.capture(execute=run_jobs):
            response = getattr(self.client(user), method)(
                url, headers={"X-Request-ID": request_id}, **kw
            )
        assert response.status_code < 300, (url, response.status_code, response.content[:500])
        assert response["X-Request-ID"] == request_id
        return response


def failing_recalculation() -> AbstractContextManager[None]:
    def broken(job: Any) -> None:
        raise RuntimeError("disk full")

    return injected_fault("recalc.stages_starting", broken)


def _create_session(script: Script, user: Any, name: str, request_id: str) -> int:
    response = script.call(
        user,
        "post",
        "/api/v1/sessions/",
        request_id,
        data={
            "engagement": "acme-corp",
            "name": name,
            "period_start": "2026-10-01",
            "period_end": "2026-10-31",
            "tolerance": "1.00",
            "card_file": fixture_file("car_2026_10.csv"),
            "receipts_file": fixture_file("receipts_2026_10_v1.csv"),
        },
        format="multipart",
    )
    return response.json()["id"]


def run_every_operation(script: Script, client: Any, operator: Any, admin: Any) -> dict[str, Any]:
    first = _create_session(script, operator, "October 2026", "req-create")
    second = _create_session(script, operator, "October 2026 (branch)", "req-create-2")
    base = f"/api/v1/sessions/{first}"
    script.call(
        operator,
        "post",
        f"{base}/receipts/",
        "req-upload",
        data={"file": fixture_file("receipts_2026_10_v2.csv"), "mode": "replace"},
        format="multipart",
    )
    with failing_recalculation():
        script.call(operator, "post", f"{base}/recalculate/", "req-recalc")
    failed = RecalcJob.objects.get(session_id=first, status=RecalcJob.Status.FAILED)
    script.call(operator, "post", f"/api/v1/jobs/{failed.pk}/resume/", "req-resume")
    queued = script.call(operator, "post", f"{base}/recalculate/", "req-recalc-2", run_jobs=False)
    script.call(operator, "post", f"/api/v1/jobs/{queued.json()['id']}/cancel/", "req-cancel")
    batch = script.call(
        operator, "post", f"{base}/exports/", "req-export", data={"export_type": "pvault"}
    ).json()
    script.call(operator, "get", f"/api/v1/exports/{batch['id']}/download/", "req-download")
    e1005 = EmployeeRevision.objects.get(session_id=first, employee_id="E1005")
    script.call(
        operator,
        "patch",
        f"{base}/employees/E1005/",
        "req-resolve",
        data={"action": "resolve", "note": "hotel receipt accepted", "version": e1005.version},
        format="json",
    )
    unmarked = script.call(
        operator,
        "post",
        f"{base}/exports/",
        "req-export-2",
        data={"export_type": "pvault", "mark_as_exported": False},
        format="json",
    ).json()
    script.call(
        operator, "post", f"{base}/mark-exported/", "req-mark", data={"batch_id": unmarked["id"]}
    )
    script.call(
        admin,  # voiding is for staff (SPEC §9)
        "post",
        f"/api/v1/exports/{unmarked['id']}/void/",
        "req-void",
        data={"reason": "loaded twice"},
    )
    script.call(operator, "post", f"{base}/close/", "req-close", data={"reason": "period done"})
    script.call(
        admin,
        "post",
        "/api/v1/sessions/bulk-export/",
        "req-bulk-export",
        data={"session_ids": [second]},
        format="json",
    )
    script.call(
        admin,
        "post",
        "/api/v1/sessions/bulk-close/",
        "req-bulk-close",
        data={"session_ids": [first, second], "reason": "year end"},
        format="json",
    )
    client.post(
        reverse("login"),
        {"username": "olivia", "password": "wrong"},
        headers={"X-Request-ID": "req-login"},
    )
    return {"first": first, "second": second}


EXPECTED_EVENTS = [
    # (verb, actor, request id): jobs run on a worker, outside any request
    ("session_created", "olivia", "req-create"),
    ("job_started", "olivia", ""),
    ("job_finished", "olivia", ""),
    ("session_created", "olivia", "req-create-2"),
    ("job_started", "olivia", ""),
    ("job_finished", "olivia", ""),
    ("receipts_uploaded", "olivia", "req-upload"),
    ("job_started", "olivia", ""),
    ("job_finished", "olivia", ""),
    ("session_recalculated", "olivia", "req-recalc"),
    ("job_started", "olivia", ""),
    ("job_failed", "olivia", ""),
    ("job_resumed", "olivia", "req-resume"),
    ("job_finished", "olivia", ""),
    ("session_recalculated", "olivia", "req-recalc-2"),
    ("job_cancelled", "olivia", "req-cancel"),
    ("export_generated", "olivia", "req-export"),
    ("export_downloaded", "olivia", "req-download"),
    ("employee_resolved", "olivia", "req-resolve"),
    ("export_generated", "olivia", "req-export-2"),
    ("export_marked", "olivia", "req-mark"),
    ("export_voided", "ada", "req-void"),
    ("session_closed", "olivia", "req-close"),
    ("export_generated", "ada", "req-bulk-export"),
    ("bulk_export", "ada", "req-bulk-export"),
    ("session_closed", "ada", "req-bulk-close"),
    ("bulk_close", "ada", "req-bulk-close"),
    ("login_failed", "olivia", "req-login"),
]


@pytest.fixture
def trail(client, operator, django_capture_on_commit_callbacks) -> dict[str, Any]:
    admin = UserFactory(username="ada", is_staff=True)
    start = timezone.now()
    ids = run_every_operation(Script(django_capture_on_commit_callbacks), client, operator, admin)
    return {**ids, "start": start, "events": list(ActivityEvent.objects.order_by("id"))}


def test_it_records_exactly_one_event_per_operation(trail):
    observed = [(e.verb, e.actor_label, e.request_id) for e in trail["events"]]
    assert observed == EXPECTED_EVENTS


def test_it_records_who_and_from_where_on_every_event(trail):
    users = {user.username: user for user in get_user_model().objects.all()}
    for event in trail["events"]:
        if event.verb == "login_failed":
            assert event.actor is None  # nobody was authenticated
            assert event.details == {"username": "olivia"}
        else:
            assert event.actor == users[event.actor_label], event.verb
        assert event.ip_address == ("127.0.0.1" if event.request_id else None), event.verb
    bulk_close = next(e for e in trail["events"] if e.verb == "bulk_close")
    assert bulk_close.details["closed"] == [trail["second"]]
    assert str(trail["first"]) in bulk_close.details["refused"]


def test_it_names_user_and_reason_on_every_history_row(trail):
    assert history_rows_unattributed(since=trail["start"]) == []


def _rows(model: Any, trail: dict[str, Any], *fields: str) -> list[tuple[Any, ...]]:
    rows = model.history.filter(history_date__gte=trail["start"]).order_by("history_id")
    return [
        (
            *(getattr(row, name) for name in fields),
            row.history_user.username,
            row.history_change_reason,
        )
        for row in rows.select_related("history_user")
    ]


def test_it_writes_the_expected_history_rows(trail):
    first, second = trail["first"], trail["second"]
    # Job ids depend on the database's sequences; the reasons name them.
    session_rows = [
        (*row[:3], re.sub(r"job \d+", "job N", row[3]))
        for row in _rows(ProcessingSession, trail, "id", "status")
    ]
    assert session_rows == [
        (first, "processing", "olivia", "session created"),
        (first, "completed", "olivia", "receipts v1 applied"),
        (second, "processing", "olivia", "session created"),
        (second, "completed", "olivia", "receipts v1 applied"),
        (first, "reprocessing", "olivia", "job N: new receipts version"),
        (first, "completed", "olivia", "receipts v2 applied"),
        (first, "reprocessing", "olivia", "job N: recalculation requested"),
        (first, "completed", "olivia", "job N failed"),
        (first, "reprocessing", "olivia", "job N: recalculation requested"),
        (first, "completed", "olivia", "recalculation requested (job N)"),
        (first, "reprocessing", "olivia", "job N: recalculation requested"),
        (first, "completed", "olivia", "job N cancelled"),
        (first, "closed", "olivia", "closed: period done"),
        (second, "closed", "ada", "closed: year end"),
    ]
    assert _rows(ReceiptVersion, trail, "session_id", "version") == [
        (first, 1, "olivia", "receipts v1 uploaded"),
        (second, 1, "olivia", "receipts v1 uploaded"),
        (first, 2, "olivia", "receipts v2 uploaded"),
    ]
    assert _rows(ExportBatch, trail, "batch_code", "status") == [
        ("PV-2026-10-001", "active", "olivia", "export generated: PV-2026-10-001"),
        ("PV-2026-10-002", "active", "olivia", "export generated: PV-2026-10-002"),
        ("PV-2026-10-002", "active", "olivia", "marked as exported"),
        ("PV-2026-10-002", "void", "ada", "voided: loaded twice"),
        ("PV-2026-10-003", "active", "ada", "export generated: PV-2026-10-003"),
    ]
    revisions = _rows(EmployeeRevision, trail, "session_id", "employee_id")
    assert _by_operation(revisions, first) == [
        (
            "olivia",
            "receipts v1 applied",
            ["E1001", "E1002", "E1003", "E1004", "E1005", "E1006", "E1007", "E1008"],
        ),
        ("olivia", "receipts v2 applied", ["E1001", "E1003", "E1004", "E1005", "E1006"]),
        (
            "olivia",
            "exported in PV-2026-10-001",
            ["E1001", "E1002", "E1003", "E1004", "E1006", "E1007"],
        ),
        ("olivia", "resolved by operator", ["E1005"]),
        ("olivia", "marked as exported in PV-2026-10-002", ["E1005"]),
        ("ada", "PV-2026-10-002 voided: loaded twice", ["E1005"]),
    ]
    assert _by_operation(revisions, second) == [
        (
            "olivia",
            "receipts v1 applied",
            ["E1001", "E1002", "E1003", "E1004", "E1005", "E1006", "E1007", "E1008"],
        ),
        ("ada", "exported in PV-2026-10-003", ["E1001", "E1002", "E1005", "E1007"]),
    ]


def _by_operation(rows: list[tuple[Any, ...]], session_id: int) -> list[tuple[Any, ...]]:
    """Consecutive rows of one operation grouped: the order inside one bulk write is the
    database's business, the order of the operations is not."""
    grouped: list[tuple[Any, ...]] = []
    for row_session, employee_id, user, reason in rows:
        if row_session != session_id:
            continue
        if grouped and grouped[-1][:2] == (user, reason):
            grouped[-1][2].append(employee_id)
        else:
            grouped.append((user, reason, [employee_id]))
    return [(user, reason, sorted(employees)) for user, reason, employees in grouped]


def test_it_puts_the_request_id_in_log_records(client, viewer, caplog):
    client.force_login(viewer)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("audit:analytics"), headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 403
    assert response["X-Request-ID"] == "trace-42"
    record = next(r for r in caplog.records if r.name == "django.request")
    assert record.request_id == "trace-42"


def test_it_makes_a_request_id_when_none_or_an_unsafe_one_is_sent(client, operator):
    client.force_login(operator)
    made = client.get(reverse("audit:engagement_log", args=["acme-corp"]))["X-Request-ID"]
    assert len(made) == 32
    unsafe = client.get(
        reverse("audit:engagement_log", args=["acme-corp"]),
        headers={"X-Request-ID": "bad id\nwith newline"},
    )["X-Request-ID"]
    assert unsafe != "bad id\nwith newline" and len(unsafe) == 32
