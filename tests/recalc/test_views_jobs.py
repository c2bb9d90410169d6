"""The job panel: polling with 286 when the job ends, cancel, resume, discard, recalculate."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from recalc.models import RecalcJob
from recalc.services import recalc_job_enqueue
from sessions_app.models import ProcessingSession
from tests.pages import HTMX, from_session_page

pytestmark = pytest.mark.django_db


def _panel(session: Any, job: Any) -> str:
    return reverse("recalc:job_panel", args=[session.pk, job.pk])


@pytest.fixture
def queued_job(make_session: Any, operator: Any) -> RecalcJob:
    """A job waiting for a worker (its on_commit dispatch is never run here)."""
    session = make_session()
    return recalc_job_enqueue(session=session, kind=RecalcJob.Kind.MANUAL, actor=operator)


def test_a_running_job_keeps_polling(operator_client: Client, queued_job: RecalcJob) -> None:
    RecalcJob.objects.filter(pk=queued_job.pk).update(
        status="running", stage=3, stage_name="aggregate per employee", progress=0.42
    )
    response = operator_client.get(_panel(queued_job.session, queued_job), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'hx-trigger="every 1s"' in html
    assert 'value="42"' in html
    assert "Stage 3 of 6: aggregate per employee" in html


def test_a_finished_job_stops_the_polling_with_286(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    job = RecalcJob.objects.get(session=session)
    response = operator_client.get(_panel(session, job), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 286
    assert "every 1s" not in html
    assert "Completed" in html
    assert "session-changed" in response["HX-Trigger"]


def test_the_panel_without_javascript_is_the_session_page(
    operator_client: Client, queued_job: RecalcJob
) -> None:
    response = operator_client.get(_panel(queued_job.session, queued_job))
    detail = reverse("sessions_app:session_detail", args=[queued_job.session_id])
    assert response["Location"] == f"{detail}#job-panel"


def test_the_session_page_shows_the_running_job_polling(
    operator_client: Client, queued_job: RecalcJob
) -> None:
    detail = reverse("sessions_app:session_detail", args=[queued_job.session_id])
    html = operator_client.get(detail).content.decode()
    assert f'hx-get="{_panel(queued_job.session, queued_job)}"' in html
    assert reverse("recalc:job_cancel", args=[queued_job.session_id, queued_job.pk]) in html


def test_cancel_stops_a_queued_job(operator_client: Client, queued_job: RecalcJob) -> None:
    session = queued_job.session
    url = reverse("recalc:job_cancel", args=[session.pk, queued_job.pk])
    response = operator_client.post(url, headers=from_session_page(session))
    html = response.content.decode()
    queued_job.refresh_from_db()
    assert queued_job.status == RecalcJob.Status.CANCELLED
    assert response["HX-Retarget"] == "#job-panel"
    assert "Cancelled" in html


def test_cancelling_a_finished_job_says_why_not(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    job = RecalcJob.objects.get(session=session)
    url = reverse("recalc:job_cancel", args=[session.pk, job.pk])
    response = operator_client.post(url, headers=from_session_page(session))
    assert response.status_code == 409
    assert "there is nothing to cancel" in response.content.decode()


def test_a_failed_job_can_be_resumed(
    operator_client: Client, queued_job: RecalcJob, django_capture_on_commit_callbacks: Any
) -> None:
    RecalcJob.objects.filter(pk=queued_job.pk).update(status="failed", message="Worker lost")
    session = queued_job.session
    detail = reverse("sessions_app:session_detail", args=[session.pk])
    assert "Resume from stage 1" in operator_client.get(detail).content.decode()
    url = reverse("recalc:job_resume", args=[session.pk, queued_job.pk])
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(url, headers=from_session_page(session))
    queued_job.refresh_from_db()
    assert queued_job.status == RecalcJob.Status.COMPLETED


def test_a_preview_can_be_discarded(
    operator_client: Client, make_session: Any, upload_receipts: Any
) -> None:
    session = make_session()
    version = upload_receipts(session, "receipts_2026_10_v2.csv", preview=True)
    job = RecalcJob.objects.get(receipt_version=version)
    url = reverse("recalc:job_discard", args=[session.pk, job.pk])
    response = operator_client.post(url)
    assert response.status_code == 302
    job.refresh_from_db()
    version.refresh_from_db()
    assert job.status == RecalcJob.Status.CANCELLED
    assert version.state == "discarded"


def test_recalculate_starts_a_job_and_a_second_is_refused(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    url = reverse("recalc:session_recalculate", args=[session.pk])
    first = operator_client.post(url, headers=from_session_page(session))
    assert first.status_code == 200
    assert 'hx-trigger="every 1s"' in first.content.decode()
    second = operator_client.post(url, headers=from_session_page(session))
    assert second.status_code == 409
    assert "already has a job in progress" in second.content.decode()
    assert RecalcJob.objects.filter(session=session).count() == 2


def test_viewers_see_progress_but_cannot_act(
    client: Client, viewer: Any, queued_job: RecalcJob
) -> None:
    session = queued_job.session
    client.force_login(viewer)
    response = client.get(_panel(session, queued_job), headers=HTMX)
    assert response.status_code == 200
    assert "Cancel" not in response.content.decode()
    for action in ("job_cancel", "job_apply", "job_discard", "job_resume"):
        url = reverse(f"recalc:{action}", args=[session.pk, queued_job.pk])
        assert client.post(url).status_code == 403
    assert client.post(reverse("recalc:session_recalculate", args=[session.pk])).status_code == 403
    queued_job.refresh_from_db()
    assert queued_job.status == RecalcJob.Status.QUEUED


def test_another_engagement_sees_no_job(
    client: Client, outsider: Any, queued_job: RecalcJob
) -> None:
    client.force_login(outsider)
    session = queued_job.session
    assert client.get(_panel(session, queued_job), headers=HTMX).status_code == 404
    url = reverse("recalc:job_cancel", args=[session.pk, queued_job.pk])
    assert client.post(url).status_code == 404


def test_a_job_of_another_session_is_not_found(
    operator_client: Client, queued_job: RecalcJob, make_session: Any, operator: Any
) -> None:
    other = make_session(name="November 2026")
    assert operator_client.get(_panel(other, queued_job), headers=HTMX).status_code == 404


def test_it_refuses_other_methods(operator_client: Client, queued_job: RecalcJob) -> None:
    session = queued_job.session
    assert operator_client.post(_panel(session, queued_job)).status_code == 405
    url = reverse("recalc:job_cancel", args=[session.pk, queued_job.pk])
    assert operator_client.get(url).status_code == 405


def test_a_closed_session_refuses_recalculation(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    from sessions_app.services import session_close

    session = make_session()
    session_close(session=session, reason="done", actor=operator)
    url = reverse("recalc:session_recalculate", args=[session.pk])
    response = operator_client.post(url, follow=True)
    assert "is closed" in response.content.decode()
    assert ProcessingSession.objects.get(pk=session.pk).is_closed
