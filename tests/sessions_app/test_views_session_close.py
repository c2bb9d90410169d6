"""Close dialog (with a reason) and the current-session switcher."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app.models import ProcessingSession, UserPreference
from tests.pages import HTMX

pytestmark = pytest.mark.django_db


def _url(session: Any) -> str:
    return reverse("sessions_app:session_close", args=[session.pk])


def test_it_shows_the_close_page(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    response = operator_client.get(_url(session))
    html = response.content.decode()
    assert "<html" in html
    assert "Closing is permanent" in html
    assert 'name="reason"' in html


def test_it_opens_as_a_dialog_for_htmx(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    html = operator_client.get(_url(session), headers=HTMX).content.decode()
    assert html.lstrip().startswith('<div id="modal">')
    assert "<html" not in html


def test_it_needs_a_reason(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    response = operator_client.post(_url(session), {"reason": ""}, headers=HTMX)
    assert response.status_code == 422
    assert response.content.decode().lstrip().startswith('<form id="close-form"')
    session.refresh_from_db()
    assert session.status != ProcessingSession.Status.CLOSED


def test_it_closes_and_shows_the_read_only_session(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    response = operator_client.post(_url(session), {"reason": "Period audited"}, follow=True)
    html = response.content.decode()
    session.refresh_from_db()
    assert session.status == ProcessingSession.Status.CLOSED
    assert session.closure_reason == "Period audited"
    assert "Period audited" in html
    assert reverse("sessions_app:receipts_upload", args=[session.pk]) not in html


def test_closing_from_the_list_swaps_the_card(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    list_url = reverse("sessions_app:session_list")
    response = operator_client.post(
        _url(session),
        {"reason": "done"},
        headers={**HTMX, "HX-Current-URL": f"http://testserver{list_url}"},
    )
    html = response.content.decode()
    assert response["HX-Retarget"] == f"#session-{session.pk}"
    assert html.lstrip().startswith(f'<article class="card session-card" id="session-{session.pk}"')
    assert "Closed" in html
    assert '<div id="modal" hx-swap-oob="true"></div>' in html


def test_closing_from_the_session_page_reloads_it(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    detail = reverse("sessions_app:session_detail", args=[session.pk])
    response = operator_client.post(
        _url(session),
        {"reason": "done"},
        headers={**HTMX, "HX-Current-URL": f"http://testserver{detail}"},
    )
    assert response["HX-Redirect"] == detail


def test_a_closed_session_answers_with_the_closed_message(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    operator_client.post(_url(session), {"reason": "first"})
    response = operator_client.post(_url(session), {"reason": "second"})
    assert response.status_code == 409
    assert "was closed on" in response.content.decode()
    session.refresh_from_db()
    assert session.closure_reason == "first"


def test_it_refuses_viewers(client: Client, viewer: Any, make_session: Any) -> None:
    session = make_session()
    client.force_login(viewer)
    assert client.get(_url(session)).status_code == 403
    assert client.post(_url(session), {"reason": "x"}).status_code == 403
    session.refresh_from_db()
    assert not session.is_closed


def test_it_hides_another_engagements_session(
    client: Client, outsider: Any, make_session: Any
) -> None:
    session = make_session()
    client.force_login(outsider)
    assert client.post(_url(session), {"reason": "x"}).status_code == 404


def test_it_refuses_other_methods(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    assert operator_client.put(_url(session)).status_code == 405


def test_the_switcher_remembers_the_current_session(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    switch = reverse("sessions_app:session_switch")
    response = operator_client.post(switch, {"session": session.pk})
    assert response["Location"] == reverse("sessions_app:session_detail", args=[session.pk])
    assert UserPreference.objects.get(user=operator).current_session == session
    html = operator_client.get(reverse("sessions_app:session_list")).content.decode()
    assert f'<option value="{session.pk}" selected>' in html
    assert operator_client.get(switch).status_code == 405


def test_the_switcher_cannot_reach_another_engagement(
    client: Client, outsider: Any, make_session: Any
) -> None:
    session = make_session()
    client.force_login(outsider)
    response = client.post(reverse("sessions_app:session_switch"), {"session": session.pk})
    assert response.status_code == 404
