"""Employee detail: charges vs receipts, revision history, export lines, resolve form."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from exports.services import export_batch_create
from sessions_app.models import EmployeeRevision, ProcessingSession
from tests.pages import HTMX

pytestmark = pytest.mark.django_db


def _url(session: Any, employee_id: str, action: str = "employee_detail") -> str:
    return reverse(f"sessions_app:{action}", args=[session.pk, employee_id])


def test_it_shows_card_and_receipt_lines_side_by_side(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    html = operator_client.get(_url(session, "E1001")).content.decode()
    assert "<html" in html
    assert "UNITED AIRLINES" in html  # a card line
    assert "R-5001" in html  # a receipt line in effect
    assert "155.75" in html and "155.00" in html
    assert "Revision history" in html


def test_it_shows_what_changed_between_revisions(
    operator_client: Client, make_session: Any, upload_receipts: Any
) -> None:
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv")
    html = operator_client.get(_url(session, "E1001")).content.decode()
    assert "receipts v2 applied" in html
    assert '<span class="field">receipt amount</span>: 155.00 → <strong>155.75</strong>' in html


def test_it_lists_the_export_lines_of_the_employee(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    html = operator_client.get(_url(session, "E1002")).content.decode()
    assert batch.batch_code in html
    assert "NEW" in html
    assert "never exported" not in html


def test_it_resolves_an_exception_with_a_note(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    revision = EmployeeRevision.objects.get(session=session, employee_id="E1003")
    response = operator_client.post(
        _url(session, "E1003", "employee_resolve"),
        {"note": "Receipt lost; manager approved", "version": revision.version},
        headers=HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="employee-overview"')
    assert "Receipt lost; manager approved" in html
    assert "revision-changed" in response["HX-Trigger"]
    revision.refresh_from_db()
    assert revision.status == EmployeeRevision.Status.RESOLVED


def test_a_stale_form_says_who_changed_the_employee_and_when(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    revision = EmployeeRevision.objects.get(session=session, employee_id="E1003")
    stale = revision.version
    operator_client.post(
        _url(session, "E1003", "employee_resolve"), {"note": "first", "version": stale}
    )
    response = operator_client.post(
        _url(session, "E1003", "employee_resolve"), {"note": "second", "version": stale}
    )
    html = response.content.decode()
    assert response.status_code == 409
    assert "was changed by olivia at" in html
    assert "Reload and try again" in html
    revision.refresh_from_db()
    assert revision.resolution_note == "first"


def test_a_resolve_without_a_note_is_refused(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    revision = EmployeeRevision.objects.get(session=session, employee_id="E1003")
    response = operator_client.post(
        _url(session, "E1003", "employee_resolve"), {"note": "", "version": revision.version}
    )
    assert response.status_code == 422
    revision.refresh_from_db()
    assert revision.status == EmployeeRevision.Status.MISSING_RECEIPTS


def test_an_archived_session_says_where_its_lines_are(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    ProcessingSession.objects.filter(pk=session.pk).update(
        archived_at=timezone.make_aware(datetime.datetime(2027, 3, 1)),
        archive_location="archive/acme/42",
    )
    html = operator_client.get(_url(session, "E1001")).content.decode()
    assert "This session is archived (on 1 Mar 2027, at <code>archive/acme/42</code>)" in html
    assert f"manage.py restore_session {session.pk}" in html
    assert "UNITED AIRLINES" not in html
    assert "Revision history" in html


def test_it_answers_htmx_with_a_panel(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    response = operator_client.get(
        _url(session, "E1001"), headers={**HTMX, "HX-Target": "revision-history"}
    )
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="revision-history"')


def test_it_hides_the_resolve_form_from_viewers_and_refuses_their_post(
    client: Client, viewer: Any, make_session: Any
) -> None:
    session = make_session()
    client.force_login(viewer)
    html = client.get(_url(session, "E1003")).content.decode()
    assert 'id="resolve-form"' not in html
    response = client.post(_url(session, "E1003", "employee_resolve"), {"note": "x", "version": 1})
    assert response.status_code == 403


def test_it_hides_another_engagements_session(
    client: Client, outsider: Any, make_session: Any
) -> None:
    session = make_session()
    client.force_login(outsider)
    assert client.get(_url(session, "E1001")).status_code == 404
    assert client.post(_url(session, "E1001", "employee_resolve")).status_code == 404


def test_an_unknown_employee_is_not_found(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    assert operator_client.get(_url(session, "E9999")).status_code == 404


def test_it_refuses_other_methods(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    assert operator_client.post(_url(session, "E1001")).status_code == 405
    assert operator_client.get(_url(session, "E1001", "employee_resolve")).status_code == 405
