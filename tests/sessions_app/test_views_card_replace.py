"""Replace-card-statement dialog and its action on the session page."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from exports.services import export_batch_create
from recalc.models import RecalcJob
from sessions_app.models import CardTransaction, EmployeeRevision
from sessions_app.services import session_close
from tests.pages import HTMX, from_session_page
from tests.samples import CORRECTED, fixture_file

pytestmark = pytest.mark.django_db
ACTION = "Replace card statement</a>"


def _url(session: Any) -> str:
    return reverse("sessions_app:card_replace", args=[session.pk])


def _detail(session: Any) -> str:
    return reverse("sessions_app:session_detail", args=[session.pk])


def _car_amount(session: Any, employee_id: str) -> str:
    return str(EmployeeRevision.objects.get(session=session, employee_id=employee_id).car_amount)


def test_the_session_page_offers_the_action_to_operators_only(
    operator_client: Client, make_session: Any, viewer: Any
) -> None:
    session = make_session()

    as_operator = operator_client.get(_detail(session)).content.decode()
    operator_client.force_login(viewer)
    as_viewer = operator_client.get(_detail(session)).content.decode()

    assert ACTION in as_operator
    assert f'href="{_url(session)}"' in as_operator
    assert ACTION not in as_viewer


def test_the_action_is_gone_after_a_pvault_export_or_closing(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    exported = make_session(name="Exported")
    export_batch_create(session=exported, export_type="pvault", actor=operator)
    closed = make_session(name="Closed")
    session_close(session=closed, reason="period closed", actor=operator)
    exceptions_only = make_session(name="Exceptions only")
    export_batch_create(session=exceptions_only, export_type="exceptions", actor=operator)

    assert ACTION not in operator_client.get(_detail(exported)).content.decode()
    assert ACTION not in operator_client.get(_detail(closed)).content.decode()
    assert ACTION in operator_client.get(_detail(exceptions_only)).content.decode()


def test_it_shows_the_form_page_without_javascript(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()

    response = operator_client.get(_url(session))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert "Replace the card statement of October 2026" in html
    assert "<code>car_2026_10.csv</code> (12 lines)" in html
    for field in ("file", "profile", "note"):
        assert f'name="{field}"' in html
    assert 'class="primary">Replace card statement</button>' in html


def test_it_opens_as_a_dialog_for_htmx(operator_client: Client, make_session: Any) -> None:
    session = make_session()

    html = operator_client.get(_url(session), headers=HTMX).content.decode()

    assert "<html" not in html
    assert html.lstrip().startswith('<div id="modal">')
    assert "<dialog data-modal" in html


def test_a_replacement_from_the_session_page_starts_the_job_panel(
    operator_client: Client, make_session: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = make_session()

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            _url(session),
            {"file": fixture_file(CORRECTED), "note": "bank re-issued it"},
            headers=from_session_page(session),
        )

    html = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#job-panel"
    assert "session-changed" in response["HX-Trigger"]
    assert html.lstrip().startswith('<section id="job-panel"')
    assert "card statement replaced" in html
    assert '<div id="modal" hx-swap-oob="true"></div>' in html
    job = RecalcJob.objects.filter(session=session).latest("id")
    assert (job.kind, job.status) == (RecalcJob.Kind.CARD, RecalcJob.Status.COMPLETED)
    assert _car_amount(session, "E1002") == "1250.00"


def test_without_javascript_it_redirects_to_the_session_page(
    operator_client: Client, make_session: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = make_session()

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(_url(session), {"file": fixture_file(CORRECTED)})

    assert response.status_code == 302
    assert response["Location"] == _detail(session)
    page = operator_client.get(response["Location"]).content.decode()
    assert "Card statement replaced; every employee is recalculated." in page
    assert "<code>car_2026_10_corrected.csv</code> (8 lines)" in page
    assert "Card statement replaced: car_2026_10.csv (12 lines)" in page  # the timeline


def test_a_bad_file_lists_its_errors_and_stores_nothing(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    bad = SimpleUploadedFile(
        "car_bad.csv",
        b"Employee ID,Cardholder Name,Amount\nE1001,Alice,12.3.4\nE1002,Bob,ten dollars\n",
    )

    response = operator_client.post(_url(session), {"file": bad})

    html = response.content.decode()
    assert response.status_code == 422
    assert "<html" in html
    assert "The card statement has 2 errors; nothing was stored" in html
    assert "<code>ten dollars</code>" in html
    session.refresh_from_db()
    assert session.card_file_name == "car_2026_10.csv"
    assert CardTransaction.objects.filter(session=session).count() == 12


def test_a_bad_file_with_htmx_replaces_only_the_problem_area(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    bad = SimpleUploadedFile("car_bad.csv", b"Employee ID,Amount\nE1001,12.3.4\n")

    response = operator_client.post(_url(session), {"file": bad}, headers=HTMX)

    assert response.status_code == 422
    assert response["HX-Retarget"] == "#upload-problem"
    assert response.content.decode().lstrip().startswith('<div id="upload-problem"')


def test_the_same_file_is_explained_and_can_be_replaced_anyway(
    operator_client: Client, make_session: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = make_session()

    response = operator_client.post(
        _url(session), {"file": fixture_file("car_2026_10.csv")}, headers=HTMX
    )

    html = response.content.decode()
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#upload-problem"
    assert "identical to the current card statement" in html
    assert 'name="force"' in html
    assert not RecalcJob.objects.filter(session=session, kind=RecalcJob.Kind.CARD).exists()
    with django_capture_on_commit_callbacks(execute=True):
        forced = operator_client.post(
            _url(session), {"file": fixture_file("car_2026_10.csv"), "force": "on"}
        )
    assert forced.status_code == 302
    assert RecalcJob.objects.filter(session=session, kind=RecalcJob.Kind.CARD).count() == 1


def test_after_a_pvault_export_the_form_says_why_it_cannot_be_used(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)

    page = operator_client.get(_url(session)).content.decode()
    posted = operator_client.post(_url(session), {"file": fixture_file(CORRECTED)})

    assert f"exported to pVault in {batch.batch_code}" in page
    assert "Open a new session for the corrected statement." in page
    assert 'class="primary">Replace card statement</button>' not in page
    assert posted.status_code == 409
    assert "can no longer be replaced" in posted.content.decode()
    assert _car_amount(session, "E1002") == "1205.00"


def test_a_form_without_a_file_is_shown_again(operator_client: Client, make_session: Any) -> None:
    session = make_session()

    response = operator_client.post(_url(session), {"note": "x"}, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 422
    assert html.lstrip().startswith('<form id="card-form"')
    assert "This field is required." in html


def test_while_a_job_runs_it_says_so(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    from recalc.services import session_recalculate

    session = make_session()
    job = session_recalculate(session=session, actor=operator)

    response = operator_client.post(_url(session), {"file": fixture_file(CORRECTED)})

    assert response.status_code == 409
    assert f"already has a job in progress (job {job.pk})" in response.content.decode()
    assert CardTransaction.objects.filter(session=session).count() == 12


def test_it_refuses_viewers(client: Client, viewer: Any, make_session: Any) -> None:
    session = make_session()
    client.force_login(viewer)

    assert client.get(_url(session)).status_code == 403
    assert client.post(_url(session), {"file": fixture_file(CORRECTED)}).status_code == 403
    assert not RecalcJob.objects.filter(session=session, kind=RecalcJob.Kind.CARD).exists()


def test_it_hides_another_engagements_session(
    client: Client, outsider: Any, make_session: Any
) -> None:
    session = make_session()
    client.force_login(outsider)

    assert client.get(_url(session)).status_code == 404
    assert client.post(_url(session), {"file": fixture_file(CORRECTED)}).status_code == 404


def test_it_refuses_other_methods(operator_client: Client, make_session: Any) -> None:
    session = make_session()

    assert operator_client.put(_url(session)).status_code == 405
    assert operator_client.delete(_url(session)).status_code == 405
