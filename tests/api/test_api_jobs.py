"""/api/v1/jobs/…: status, cancel, resume, apply, discard, diff, Server-Sent Events; and the
session-level recalculate and reprocess-status."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from django.db import connection

from recalc import streams as recalc_streams
from recalc.models import RecalcJob
from sessions_app.services import session_close
from tests.concurrency import in_thread
from tests.factories import ProcessingSessionFactory

pytestmark = pytest.mark.django_db

JOB_FIELDS = {
    "id",
    "session",
    "kind",
    "status",
    "stage",
    "stage_name",
    "progress",
    "processed",
    "total",
    "message",
    "errors",
    "started_at",
    "finished_at",
}


def job_url(job: Any, action: str = "") -> str:
    return f"/api/v1/jobs/{job.pk}/{action + '/' if action else ''}"


def queued_job(session: Any, **fields: Any) -> RecalcJob:
    return RecalcJob.objects.create(session=session, kind="manual", **fields)


@pytest.fixture
def preview_job(session: Any, upload_receipts: Any) -> RecalcJob:
    version = upload_receipts(session, "receipts_2026_10_v2.csv", preview=True)
    return version.recalc_jobs.get()


# --- Status ---------------------------------------------------------------------------------------


def test_it_shows_a_job_with_its_progress(viewer_api: Any, session: Any) -> None:
    job = session.recalc_jobs.get()

    response = viewer_api.get(job_url(job))

    assert response.status_code == 200
    body = response.json()
    assert set(body) >= JOB_FIELDS
    assert (body["status"], body["kind"], body["session"]) == ("completed", "initial", session.pk)
    assert body["progress"] == 1.0
    assert body["stage_name"] == "finish"


def test_it_hides_another_engagements_job(outsider_api: Any, session: Any) -> None:
    job = session.recalc_jobs.get()

    for action in ("", "diff", "events"):
        response = outsider_api.get(job_url(job, action))
        assert response.status_code == 404, action
        assert response.json()["error"]["code"] == "not_found"
    assert outsider_api.post(job_url(job, "cancel")).status_code == 404


# --- Actions --------------------------------------------------------------------------------------


def test_it_cancels_a_queued_job(api: Any, session: Any) -> None:
    job = queued_job(session)

    response = api.post(job_url(job, "cancel"))

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert "olivia" in response.json()["message"]


def test_it_refuses_to_cancel_a_finished_job(api: Any, session: Any) -> None:
    response = api.post(job_url(session.recalc_jobs.get(), "cancel"))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"


def test_it_resumes_a_failed_job(api: Any, session: Any, on_commit: Any) -> None:
    job = queued_job(session, status="failed", completed_stage=2)

    with on_commit():
        response = api.post(job_url(job, "resume"))

    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert api.get(job_url(job)).json()["status"] == "completed"


def test_it_refuses_to_resume_a_job_that_did_not_fail(api: Any, session: Any) -> None:
    response = api.post(job_url(session.recalc_jobs.get(), "resume"))

    assert response.status_code == 409
    assert "only a failed job" in response.json()["error"]["message"]


def test_it_applies_a_preview(api: Any, session: Any, preview_job: Any, on_commit: Any) -> None:
    with on_commit():
        response = api.post(job_url(preview_job, "apply"))

    assert response.status_code == 200
    assert api.get(job_url(preview_job)).json()["status"] == "completed"
    e1001 = api.get(f"/api/v1/sessions/{session.pk}/employees/E1001/").json()
    assert e1001["receipt_amount"] == "155.75"


def test_it_discards_a_preview_changing_nothing(api: Any, session: Any, preview_job: Any) -> None:
    response = api.post(job_url(preview_job, "discard"))

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    e1001 = api.get(f"/api/v1/sessions/{session.pk}/employees/E1001/").json()
    assert e1001["receipt_amount"] == "155.00"
    assert api.post(job_url(preview_job, "apply")).status_code == 409


def test_it_forbids_viewers_every_job_action(
    viewer_api: Any, session: Any, preview_job: Any
) -> None:
    for action in ("cancel", "resume", "apply", "discard"):
        response = viewer_api.post(job_url(preview_job, action))
        assert response.status_code == 403, action
    preview_job.refresh_from_db()
    assert preview_job.status == "awaiting_confirmation"


def test_it_shows_a_previews_per_employee_diff(api: Any, preview_job: Any) -> None:
    response = api.get(job_url(preview_job, "diff"))

    assert response.status_code == 200
    body = response.json()
    assert body["job"]["status"] == "awaiting_confirmation"
    assert body["counts"]["changed"] >= 1
    rows = {row["employee_id"]: row for row in body["employees"]}
    assert rows["E1001"]["change"] == "changed"
    assert (rows["E1001"]["old_receipt_amount"], rows["E1001"]["new_receipt_amount"]) == (
        "155.00",
        "155.75",
    )
    assert rows["E1001"]["delta_receipt_amount"] == "0.75"
    assert body["next_delta_export"]["changed"] == 0


# --- Session-level --------------------------------------------------------------------------------


def test_it_recalculates_and_refuses_a_second_job_with_409(
    api: Any, session: Any, on_commit: Any
) -> None:
    first = api.post(f"/api/v1/sessions/{session.pk}/recalculate/")  # stays queued
    second = api.post(f"/api/v1/sessions/{session.pk}/recalculate/")

    assert first.status_code == 202
    assert (first.json()["kind"], first.json()["status"]) == ("manual", "queued")
    assert second.status_code == 409
    error = second.json()["error"]
    assert error["code"] == "job_active"
    assert error["details"]["job_url"] == f"/api/v1/jobs/{first.json()['id']}/"


def test_it_refuses_to_recalculate_a_closed_session(
    api: Any, viewer_api: Any, session: Any, operator: Any
) -> None:
    assert viewer_api.post(f"/api/v1/sessions/{session.pk}/recalculate/").status_code == 403
    session_close(session=session, reason="done", actor=operator)

    response = api.post(f"/api/v1/sessions/{session.pk}/recalculate/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_closed"


def test_it_shows_the_latest_job_of_a_session(api: Any, session: Any) -> None:
    job = queued_job(session)

    response = api.get(f"/api/v1/sessions/{session.pk}/reprocess-status/")

    assert response.status_code == 200
    assert response.json()["id"] == job.pk


def test_it_answers_404_when_a_session_has_no_job(api: Any, engagement: Any) -> None:
    session = ProcessingSessionFactory(engagement=engagement)

    response = api.get(f"/api/v1/sessions/{session.pk}/reprocess-status/")

    assert response.status_code == 404


# --- Server-Sent Events ---------------------------------------------------------------------------


def parse_events(chunks: list[bytes]) -> list[tuple[str, Any]]:
    """(event name, data) pairs; comments come back as ("comment", text)."""
    events = []
    for block in b"".join(chunks).decode().split("\n\n"):
        if not block.strip():
            continue
        if block.startswith(":"):
            events.append(("comment", block[1:].strip()))
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_it_streams_a_finished_job_as_progress_then_complete(api: Any, session: Any) -> None:
    job = session.recalc_jobs.get()

    response = api.get(job_url(job, "events"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert "no-store" in response["Cache-Control"]
    events = parse_events(list(response.streaming_content))
    assert [name for name, _ in events] == ["progress", "complete"]
    assert events[0][1] == {
        "status": "completed",
        "stage": 6,
        "stage_name": "finish",
        "progress": 1.0,
        "processed": job.processed,
        "total": job.total,
        "message": job.message,
    }
    assert events[1][1]["id"] == job.pk


def test_it_ends_a_previews_stream_when_it_awaits_confirmation(api: Any, preview_job: Any) -> None:
    events = parse_events(list(api.get(job_url(preview_job, "events")).streaming_content))

    assert [name for name, _ in events] == ["progress", "complete"]
    assert events[1][1]["status"] == "awaiting_confirmation"


def test_it_streams_a_failed_job_as_an_error(api: Any, session: Any) -> None:
    job = queued_job(session, status="failed", message="Worker lost")

    events = parse_events(list(api.get(job_url(job, "events")).streaming_content))

    assert [name for name, _ in events] == ["progress", "error"]
    assert events[1][1]["status"] == "failed"


def test_it_streams_progress_while_the_job_runs_until_it_ends(
    api: Any, session: Any, monkeypatch: Any
) -> None:
    job = queued_job(session)
    moves = iter(
        [
            {"status": "running", "stage": 3, "stage_name": "aggregate", "progress": 0.4},
            {"status": "running", "stage": 3, "stage_name": "aggregate", "progress": 0.4},
            {"status": "running", "stage": 5, "stage_name": "apply", "progress": 0.8},
            {"status": "completed", "stage": 6, "stage_name": "finish", "progress": 1.0},
        ]
    )
    # Each poll interval, the "worker" moves the job on.
    monkeypatch.setattr(
        recalc_streams,
        "stream_pause",
        lambda seconds: RecalcJob.objects.filter(pk=job.pk).update(**next(moves)),
    )

    events = parse_events(list(api.get(job_url(job, "events")).streaming_content))

    assert [name for name, _ in events] == ["progress"] * 4 + ["complete"]
    assert [data["progress"] for _, data in events[:4]] == [0.0, 0.4, 0.8, 1.0]
    assert events[-1][1]["status"] == "completed"


def test_it_sends_heartbeats_while_nothing_changes(session: Any) -> None:
    job = queued_job(session, status="running")
    now = [0.0]
    polls = [0]

    def pause(seconds: float) -> None:
        now[0] += 10
        polls[0] += 1
        if polls[0] == 4:
            RecalcJob.objects.filter(pk=job.pk).update(status="cancelled")

    chunks = list(recalc_streams.job_event_stream(job.pk, sleep=pause, clock=lambda: now[0]))

    events = parse_events(chunks)
    assert chunks[0].startswith(b"retry: ")
    assert [name for name, _ in events] == ["progress", "comment", "progress", "error"]
    assert events[1][1] == "heartbeat"


def test_it_ends_a_stream_that_lasts_too_long(session: Any) -> None:
    job = queued_job(session, status="running")
    now = [0.0]

    def pause(seconds: float) -> None:
        now[0] += 600

    events = parse_events(
        list(recalc_streams.job_event_stream(job.pk, sleep=pause, clock=lambda: now[0]))
    )

    assert events[0][0] == "progress"
    assert "complete" not in [name for name, _ in events]


def test_it_needs_authentication_for_events(anonymous_api: Any, session: Any) -> None:
    response = anonymous_api.get(job_url(session.recalc_jobs.get(), "events"))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_streams_a_job_a_worker_finishes_on_another_connection(
    make_session: Any, operator: Any, client_for: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: a second connection writing while the stream polls")
    session = make_session()
    job = queued_job(session, status="running", stage=3, stage_name="aggregate per employee")
    stream = iter(client_for(operator).get(job_url(job, "events")).streaming_content)
    chunks: list[bytes] = []

    def read_until_an_event_shows(stage: int) -> None:
        """Read the stream (it polls the job between chunks) until a progress event
        shows `stage`."""
        for chunk in stream:
            chunks.append(chunk)
            shown = [data["stage"] for name, data in parse_events(chunks) if name == "progress"]
            if stage in shown:
                return
        raise AssertionError(f"the stream ended without showing stage {stage}")

    def worker_writes(**fields: Any) -> None:
        """What the worker commits, on a connection of its own."""
        thread, outcome = in_thread(lambda: RecalcJob.objects.filter(pk=job.pk).update(**fields))
        thread.join(timeout=30)
        assert outcome == {"result": 1}, outcome

    read_until_an_event_shows(3)
    worker_writes(stage=5, stage_name="apply", progress=0.8)
    read_until_an_event_shows(5)
    worker_writes(status="completed", progress=1.0)
    chunks.extend(itertools.islice(stream, 2))  # the job as finished, then `complete`
    assert next(stream, None) is None  # and the stream has ended, not gone on polling

    events = parse_events(chunks)
    assert [name for name, _ in events] == ["progress", "progress", "progress", "complete"]
    assert [data["stage"] for _, data in events[:3]] == [3, 5, 5]
    assert [data["status"] for _, data in events[:3]] == ["running", "running", "completed"]
