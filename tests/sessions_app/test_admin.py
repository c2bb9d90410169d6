"""The admins' door for sessions: actions through admin_client posts, including the
intermediate page, one message per selected session, closed sessions skipped."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import pytest
from django.urls import reverse

from audit.models import ActivityEvent
from recalc.models import RecalcJob
from sessions_app.models import CardTransaction, ProcessingSession
from sessions_app.services import session_close
from tests.pages import admin_messages

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:sessions_app_processingsession_changelist"


def _action(admin_client: Any, action: str, sessions: list[Any], **extra: Any) -> Any:
    data = {"action": action, "_selected_action": [session.pk for session in sessions], **extra}
    return admin_client.post(reverse(CHANGELIST), data, follow=True)


def _queued_job(session: ProcessingSession) -> RecalcJob:
    return RecalcJob.objects.create(session=session, kind=RecalcJob.Kind.MANUAL)


# --- Bulk close -------------------------------------------------------------------------------


def test_it_asks_for_a_reason_before_closing(admin_client, make_session):
    first, second = make_session(name="September"), make_session(name="October")
    response = admin_client.post(
        reverse(CHANGELIST), {"action": "bulk_close", "_selected_action": [first.pk, second.pk]}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Close these sessions" in page
    assert 'name="reason"' in page
    assert page.count('name="_selected_action"') == 2
    assert ProcessingSession.objects.filter(status="closed").count() == 0


def test_it_closes_each_session_and_skips_closed_ones(admin_client, operator, make_session):
    open_one = make_session(name="September")
    busy = make_session(name="October")
    done = make_session(name="August")
    session_close(session=done, reason="filed", actor=operator)
    job = _queued_job(busy)

    response = _action(
        admin_client, "bulk_close", [open_one, busy, done], post="yes", reason="year end"
    )

    assert response.status_code == 200
    messages = admin_messages(response)
    assert "September: closed." in messages
    assert "August: skipped, the session is closed." in messages
    assert any(m.startswith("October: not closed: Job") and str(job.pk) in m for m in messages)
    open_one.refresh_from_db()
    assert (open_one.status, open_one.closure_reason) == ("closed", "year end")
    assert open_one.closed_by.username == "admin"
    event = ActivityEvent.objects.get(verb=ActivityEvent.Verb.BULK_CLOSE)
    assert event.actor.username == "admin"
    assert event.details["closed"] == [open_one.pk]
    history = open_one.history.first()
    assert (history.history_user.username, history.history_change_reason) == (
        "admin",
        "closed: year end",
    )


def test_it_shows_the_page_again_when_the_reason_is_blank(admin_client, make_session):
    session = make_session()
    response = _action(admin_client, "bulk_close", [session], post="yes", reason="   ")
    assert "This field is required." in response.content.decode()
    session.refresh_from_db()
    assert session.status != "closed"


# --- Bulk export ------------------------------------------------------------------------------


def test_it_exports_many_sessions_into_one_zip(admin_client, operator, make_session):
    first, second = make_session(name="September"), make_session(name="October")
    closed = make_session(name="August")
    session_close(session=closed, reason="filed", actor=operator)

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "bulk_export", "_selected_action": [first.pk, second.pk, closed.pk]},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert "manifest.csv" in names
    assert len([name for name in names if name.startswith("PV-")]) == 2
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert len(manifest) == 3
    listing = admin_client.get(reverse(CHANGELIST))
    messages = admin_messages(listing)
    assert sum("exported as PV-" in message for message in messages) == 2
    assert "August: skipped, the session is closed." in messages
    assert ActivityEvent.objects.filter(verb=ActivityEvent.Verb.BULK_EXPORT).count() == 1


def test_it_reports_when_nothing_could_be_exported(admin_client, operator, make_session):
    closed = make_session(name="August")
    session_close(session=closed, reason="filed", actor=operator)
    response = _action(admin_client, "bulk_export", [closed])
    assert response["Content-Type"].startswith("text/html")
    assert "August: skipped, the session is closed." in admin_messages(response)


# --- Recalculate ------------------------------------------------------------------------------


def test_it_recalculates_and_reports_active_jobs(
    admin_client, operator, make_session, django_capture_on_commit_callbacks
):
    free, busy = make_session(name="September"), make_session(name="October")
    closed = make_session(name="August")
    session_close(session=closed, reason="filed", actor=operator)
    _queued_job(busy)

    with django_capture_on_commit_callbacks(execute=True):
        response = _action(admin_client, "recalculate", [free, busy, closed])

    messages = admin_messages(response)
    assert "September: recalculation queued." in messages
    assert any("October: Session 'October' already has a job in progress" in m for m in messages)
    assert "August: skipped, the session is closed." in messages
    job = RecalcJob.objects.filter(session=free, kind=RecalcJob.Kind.MANUAL).get()
    assert job.status == RecalcJob.Status.COMPLETED
    assert job.created_by.username == "admin"


# --- Archive and restore ---------------------------------------------------------------------


def test_it_archives_closed_sessions_only_and_restores_them(
    admin_client, operator, make_session, archive
):
    closed, open_one = make_session(name="August"), make_session(name="September")
    session_close(session=closed, reason="filed", actor=operator)
    lines = CardTransaction.objects.filter(session=closed).count()

    response = _action(admin_client, "archive", [closed, open_one])

    messages = admin_messages(response)
    assert any(m.startswith("August: Archived") for m in messages)
    assert "September: skipped, only closed sessions are archived." in messages
    closed.refresh_from_db()
    assert closed.archived_at is not None
    assert CardTransaction.objects.filter(session=closed).count() == 0

    restored = _action(admin_client, "restore", [closed])
    assert any(m.startswith("August:") for m in admin_messages(restored))
    assert CardTransaction.objects.filter(session=closed).count() == lines


# --- Editing through the service -------------------------------------------------------------


def test_it_saves_a_tolerance_change_through_the_service(
    admin_client, make_session, django_capture_on_commit_callbacks
):
    session = make_session()
    url = reverse("admin:sessions_app_processingsession_change", args=[session.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"name": "October 2026", "tolerance": "20.00"})
    assert response.status_code == 302
    session.refresh_from_db()
    assert str(session.tolerance) == "20.00"
    event = ActivityEvent.objects.get(verb=ActivityEvent.Verb.SESSION_UPDATED)
    assert event.actor.username == "admin"
    assert RecalcJob.objects.filter(session=session, kind=RecalcJob.Kind.TOLERANCE).exists()


def test_it_keeps_closed_sessions_read_only(admin_client, operator, make_session):
    session = make_session()
    session_close(session=session, reason="filed", actor=operator)
    url = reverse("admin:sessions_app_processingsession_change", args=[session.pk])
    response = admin_client.post(url, {"name": "Renamed", "tolerance": "5.00"})
    assert response.status_code == 403
    session.refresh_from_db()
    assert session.name == "October 2026"


def test_it_shows_session_history_with_changed_fields(admin_client, operator, make_session):
    session = make_session()
    session_close(session=session, reason="filed", actor=operator)
    url = reverse("admin:sessions_app_processingsession_history", args=[session.pk])
    page = admin_client.get(url).content.decode()
    assert "closed: filed" in page
    assert "olivia" in page
    assert "Closure reason:</strong>" in page.replace("\n", "")
