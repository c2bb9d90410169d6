"""Add-receipts dialog: upload, preview then apply, duplicate files, bad files, rollback."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from recalc.models import RecalcJob
from sessions_app.models import EmployeeRevision, ReceiptVersion
from sessions_app.services import session_close
from tests.pages import HTMX, from_session_page
from tests.samples import fixture_file

pytestmark = pytest.mark.django_db


def _url(session: Any) -> str:
    return reverse("sessions_app:receipts_upload", args=[session.pk])


def test_it_shows_the_dialog_page_without_javascript(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    response = operator_client.get(_url(session))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert "Add receipts to October 2026" in html
    assert "The file holds only new receipts" in html  # append mode explained
    assert 'name="preview"' in html


def test_it_opens_as_a_dialog_for_htmx(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    html = operator_client.get(_url(session), headers=HTMX).content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="modal">')
    assert "<dialog data-modal" in html


def test_an_upload_from_the_session_page_starts_the_job_panel(
    operator_client: Client, make_session: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = make_session()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            _url(session),
            {"file": fixture_file("receipts_2026_10_v2.csv"), "mode": "replace"},
            headers=from_session_page(session),
        )
    html = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#job-panel"
    assert "session-changed" in response["HX-Trigger"]
    assert html.lstrip().startswith('<section id="job-panel"')
    assert '<div id="modal" hx-swap-oob="true"></div>' in html
    assert session.receipt_versions.get(version=2).state == ReceiptVersion.State.APPLIED
    e1001 = EmployeeRevision.objects.get(session=session, employee_id="E1001")
    assert str(e1001.receipt_amount) == "155.75"


def test_a_preview_upload_shows_the_diff_and_applies_on_confirmation(
    operator_client: Client, make_session: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = make_session()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            _url(session),
            {"file": fixture_file("receipts_2026_10_v2.csv"), "mode": "replace", "preview": "on"},
            headers=from_session_page(session),
        )
    job = RecalcJob.objects.filter(session=session).latest("id")
    # The answer came before the worker ran: the panel polls until the preview is ready.
    assert 'hx-trigger="every 1s"' in response.content.decode()
    assert job.status == RecalcJob.Status.AWAITING_CONFIRMATION
    poll = operator_client.get(reverse("recalc:job_panel", args=[session.pk, job.pk]), headers=HTMX)
    assert poll.status_code == 286
    html = poll.content.decode()
    assert "Preview of receipts v2: nothing has changed yet" in html
    assert "155.00 → 155.75" in html
    assert reverse("recalc:job_apply", args=[session.pk, job.pk]) in html
    # Nothing changed until applied.
    e1001 = EmployeeRevision.objects.get(session=session, employee_id="E1001")
    assert str(e1001.receipt_amount) == "155.00"
    with django_capture_on_commit_callbacks(execute=True):
        applied = operator_client.post(
            reverse("recalc:job_apply", args=[session.pk, job.pk]),
            headers=from_session_page(session),
        )
    assert applied.status_code == 200
    job.refresh_from_db()
    assert job.status == RecalcJob.Status.COMPLETED
    e1001.refresh_from_db()
    assert str(e1001.receipt_amount) == "155.75"


def test_a_duplicate_file_is_explained_and_can_be_stored_anyway(
    operator_client: Client, make_session: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = make_session()
    response = operator_client.post(
        _url(session),
        {"file": fixture_file("receipts_2026_10_v1.csv"), "mode": "replace"},
        headers=from_session_page(session),
    )
    html = response.content.decode()
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#upload-problem"
    assert "identical to version 1 uploaded on" in html
    assert "by olivia" in html
    assert 'name="force"' in html
    assert session.receipt_versions.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        forced = operator_client.post(
            _url(session),
            {"file": fixture_file("receipts_2026_10_v1.csv"), "mode": "replace", "force": "on"},
        )
    assert forced.status_code == 302
    assert session.receipt_versions.count() == 2


def test_a_bad_file_lists_its_errors_and_stores_nothing(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    response = operator_client.post(
        _url(session), {"file": fixture_file("receipts_bad.csv"), "mode": "replace"}
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "<html" in html
    assert "has 3 errors; nothing was stored" in html
    assert "<code>ten dollars</code>" in html
    assert session.receipt_versions.count() == 1


def test_a_form_without_a_file_is_shown_again(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    response = operator_client.post(_url(session), {"mode": "replace"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 422
    assert html.lstrip().startswith('<form id="receipts-form"')
    assert "This field is required." in html


def test_a_closed_session_answers_with_the_closed_message(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    session_close(session=session, reason="audited", actor=operator)
    response = operator_client.post(
        _url(session), {"file": fixture_file("receipts_2026_10_v2.csv"), "mode": "replace"}
    )
    assert response.status_code == 409
    assert "was closed on" in response.content.decode()
    assert session.receipt_versions.count() == 1


def test_a_rollback_creates_a_new_version_from_an_earlier_one(
    operator_client: Client,
    make_session: Any,
    upload_receipts: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv")
    url = reverse("sessions_app:receipt_reapply", args=[session.pk, 1])
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(url, headers=from_session_page(session))
    assert response["HX-Retarget"] == "#job-panel"
    latest = session.receipt_versions.get(version=3)
    assert latest.note == "rollback to v1"
    e1001 = EmployeeRevision.objects.get(session=session, employee_id="E1001")
    assert str(e1001.receipt_amount) == "155.00"


def test_a_refused_rollback_says_why_in_the_versions_panel(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    url = reverse("sessions_app:receipt_reapply", args=[session.pk, 9])
    response = operator_client.post(url, headers=from_session_page(session))
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#receipt-versions"
    assert "has no receipts v9" in response.content.decode()
    without_js = operator_client.post(url, follow=True)
    assert "has no receipts v9" in without_js.content.decode()


def test_it_refuses_viewers(client: Client, viewer: Any, make_session: Any) -> None:
    session = make_session()
    client.force_login(viewer)
    assert client.get(_url(session)).status_code == 403
    upload = {"file": fixture_file("receipts_2026_10_v2.csv"), "mode": "replace"}
    assert client.post(_url(session), upload).status_code == 403
    reapply = reverse("sessions_app:receipt_reapply", args=[session.pk, 1])
    assert client.post(reapply).status_code == 403
    assert session.receipt_versions.count() == 1


def test_it_hides_another_engagements_session(
    client: Client, outsider: Any, make_session: Any
) -> None:
    session = make_session()
    client.force_login(outsider)
    assert client.get(_url(session)).status_code == 404
    reapply = reverse("sessions_app:receipt_reapply", args=[session.pk, 1])
    assert client.post(reapply).status_code == 404


def test_it_refuses_other_methods(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    assert operator_client.put(_url(session)).status_code == 405
    reapply = reverse("sessions_app:receipt_reapply", args=[session.pk, 1])
    assert operator_client.get(reapply).status_code == 405
