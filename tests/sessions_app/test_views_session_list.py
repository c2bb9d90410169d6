"""The session list: cards with their figures, filters, actions by role and state."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from exports.services import export_batch_create
from sessions_app.models import ProcessingSession
from sessions_app.services import session_close
from tests.factories import ProcessingSessionFactory
from tests.pages import HTMX

pytestmark = pytest.mark.django_db
URL = reverse("sessions_app:session_list")
HTMX_FORM = {**HTMX, "HX-Target": "session-cards"}


def test_it_shows_a_card_per_session_with_its_figures(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)
    response = operator_client.get(URL)
    html = " ".join(response.content.decode().split())
    assert response.status_code == 200
    assert f'id="session-{session.pk}"' in html
    assert "Receipts</dt><dd>v1 — updated" in html
    assert "4 matched / 4 exceptions" in html
    assert "Exports</dt><dd>1 — last" in html
    for action in ("receipts_upload", "session_close"):
        assert reverse(f"sessions_app:{action}", args=[session.pk]) in html
    assert reverse("exports:export_new", args=[session.pk]) in html


def test_it_filters_by_status_and_search(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    october = make_session()
    november = make_session(name="November 2026")
    session_close(session=november, reason="done", actor=operator)
    closed = operator_client.get(URL, {"status": "closed"}).content.decode()
    assert f'id="session-{november.pk}"' in closed
    assert f'id="session-{october.pk}"' not in closed
    searched = operator_client.get(URL, {"q": "octo"}).content.decode()
    assert f'id="session-{october.pk}"' in searched
    assert f'id="session-{november.pk}"' not in searched


def test_it_answers_htmx_with_only_the_cards(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    response = operator_client.get(URL, {"q": "October"}, headers=HTMX_FORM)
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="session-cards"')
    assert f'id="session-{session.pk}"' in html


def test_it_offers_no_actions_on_a_closed_session(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    session_close(session=session, reason="audited", actor=operator)
    html = operator_client.get(URL).content.decode()
    assert "Closed" in html
    assert reverse("sessions_app:receipts_upload", args=[session.pk]) not in html
    assert reverse("sessions_app:session_detail", args=[session.pk]) in html


def test_it_offers_viewers_only_the_view_action(
    client: Client, viewer: Any, make_session: Any
) -> None:
    session = make_session()
    client.force_login(viewer)
    html = client.get(URL).content.decode()
    assert reverse("sessions_app:session_detail", args=[session.pk]) in html
    assert reverse("sessions_app:receipts_upload", args=[session.pk]) not in html
    assert reverse("sessions_app:session_new") not in html


def test_it_lists_only_the_users_engagements(
    client: Client, outsider: Any, make_session: Any
) -> None:
    session = make_session()
    client.force_login(outsider)
    html = client.get(URL).content.decode()
    assert f'id="session-{session.pk}"' not in html
    assert "No sessions match." in html


def test_it_refuses_other_methods(operator_client: Client) -> None:
    assert operator_client.post(URL).status_code == 405


def test_it_shows_the_header_switcher_and_unread_notifications(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    html = operator_client.get(URL).content.decode()
    assert reverse("sessions_app:session_switch") in html
    assert f'<option value="{session.pk}"' in html
    # The initial recalculation notified its starter.
    assert 'aria-label="1 unread"' in html


LIST_QUERY_CEILING = 9


@pytest.mark.parametrize("sessions", [2, 40])
def test_it_renders_the_list_in_a_fixed_number_of_queries(
    operator_client: Client,
    engagement: Any,
    django_assert_max_num_queries: Any,
    sessions: int,
) -> None:
    ProcessingSessionFactory.create_batch(sessions, engagement=engagement)
    with django_assert_max_num_queries(LIST_QUERY_CEILING):
        response = operator_client.get(URL)
    assert response.status_code == 200
    assert response.content.decode().count('class="card session-card"') == min(sessions, 24)
    assert ProcessingSession.objects.count() == sessions
