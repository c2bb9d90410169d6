"""Recalculation jobs in the admin: read-only, cancel and resume through the services."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import ActivityEvent
from recalc.models import RecalcJob
from tests.pages import admin_messages

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:recalc_recalcjob_changelist"


def test_it_cancels_queued_jobs_and_reports_finished_ones(admin_client, make_session):
    session = make_session()
    finished = session.recalc_jobs.get()
    queued = RecalcJob.objects.create(session=session, kind=RecalcJob.Kind.MANUAL)

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "cancel", "_selected_action": [finished.pk, queued.pk]},
        follow=True,
    )

    messages = admin_messages(response)
    assert any(m.startswith(f"Job {queued.pk} ") and "cancelled" in m for m in messages)
    assert any(m.startswith(f"Job {finished.pk} ") and "nothing to cancel" in m for m in messages)
    queued.refresh_from_db()
    assert queued.status == RecalcJob.Status.CANCELLED
    event = ActivityEvent.objects.get(verb=ActivityEvent.Verb.JOB_CANCELLED)
    assert event.session == session


def test_it_resumes_failed_jobs(admin_client, make_session, django_capture_on_commit_callbacks):
    session = make_session()
    failed = RecalcJob.objects.create(
        session=session,
        kind=RecalcJob.Kind.MANUAL,
        status=RecalcJob.Status.FAILED,
        completed_stage=2,
        finished_at=timezone.now(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse(CHANGELIST), {"action": "resume", "_selected_action": [failed.pk]}, follow=True
        )
    assert any("resumed from its last completed stage" in m for m in admin_messages(response))
    failed.refresh_from_db()
    assert failed.status == RecalcJob.Status.COMPLETED
    resumed = ActivityEvent.objects.get(verb=ActivityEvent.Verb.JOB_RESUMED)
    assert resumed.actor.username == "admin"


def test_it_keeps_jobs_read_only(admin_client, make_session):
    job = make_session().recalc_jobs.get()
    change = reverse("admin:recalc_recalcjob_change", args=[job.pk])
    assert admin_client.get(change).status_code == 200
    assert admin_client.post(change, {"status": "queued"}).status_code == 403
    assert admin_client.get(reverse("admin:recalc_recalcjob_add")).status_code == 403
