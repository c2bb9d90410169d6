"""Operator pages of line matching: the employee page's pairs panel with match / unmatch
(htmx and plain), the session table's count, and the "Unmatched charges" page."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from matching.selectors import employee_lines
from matching.services import lines_unmatch
from sessions_app.services import session_close

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true", "HX-Target": "employee-lines"}


@pytest.fixture
def operator_client(operator: Any) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(viewer: Any) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def outsider_client(outsider: Any) -> Client:
    client = Client()
    client.force_login(outsider)
    return client


def employee_url(session: Any, employee_id: str) -> str:
    return reverse("sessions_app:employee_detail", args=[session.pk, employee_id])


def lines_url(session: Any, employee_id: str, name: str) -> str:
    return reverse(f"matching:{name}", args=[session.pk, employee_id])


def chase_url(session: Any) -> str:
    return reverse("matching:unmatched_charges", args=[session.pk])


def test_the_employee_page_shows_pairs_with_their_rule_and_highlights_the_rest(
    operator_client, make_session, django_assert_max_num_queries
):
    session = make_session()

    with django_assert_max_num_queries(30):
        response = operator_client.get(employee_url(session, "E1001"))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="employee-lines"' in page
    assert "Same amount, same day" in page
    assert 'class="unmatched" id="unmatched-card-' in page
    assert "1 charge without a receipt: 2026-10-05 HILTON GARDEN INN 35.25" in page
    assert "Match with" in page and "Unmatch" in page


def test_a_viewer_sees_the_pairs_without_the_buttons_and_may_not_post(viewer_client, make_session):
    session = make_session()
    lines = employee_lines(session=session, employee_id="E1001")

    page = viewer_client.get(employee_url(session, "E1001")).content.decode()
    refused = viewer_client.post(
        lines_url(session, "E1001", "lines_unmatch"),
        {"card_line": lines.pairs[0].card_line.id, "version": 0},
    )

    assert "Same amount, same day" in page and "Unmatch" not in page
    assert refused.status_code == 403


def test_an_htmx_match_answers_the_fresh_panel_only(operator_client, make_session):
    session = make_session()
    lines = employee_lines(session=session, employee_id="E1001")

    response = operator_client.post(
        lines_url(session, "E1001", "lines_match"),
        {
            "card_line": lines.unmatched_card_lines[0].id,
            "receipt_line": lines.unmatched_receipt_lines[0].id,
            "note": "city tax not on the receipt",
            "version": lines.version,
        },
        headers=HTMX,
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith("{#") or page.lstrip().startswith("<section")
    assert "<html" not in page
    assert "Matched by hand" in page and "city tax not on the receipt" in page
    assert "Pairs matched by hand differ by 0.75" in page


def test_a_plain_unmatch_redirects_to_the_employee_page(operator_client, make_session):
    session = make_session()
    lines = employee_lines(session=session, employee_id="E1001")

    response = operator_client.post(
        lines_url(session, "E1001", "lines_unmatch"),
        {"card_line": lines.pairs[0].card_line.id, "version": lines.version},
    )

    assert response.status_code == 302
    assert response["Location"].startswith(employee_url(session, "E1001"))
    assert employee_lines(session=session, employee_id="E1001").pairs == []


def test_a_stale_or_refused_decision_shows_its_reason_in_the_panel(operator_client, make_session):
    session = make_session()
    lines = employee_lines(session=session, employee_id="E1001")

    response = operator_client.post(
        lines_url(session, "E1001", "lines_match"),
        {
            "card_line": lines.unmatched_card_lines[0].id,
            "receipt_line": lines.pairs[0].receipt_line.id,
            "note": "x",
            "version": lines.version,
        },
        headers=HTMX,
    )

    assert response.status_code == 409
    assert "already paired" in response.content.decode()


def test_lines_routes_refuse_get_on_posts_and_other_engagements(
    operator_client, outsider_client, make_session
):
    session = make_session()

    assert operator_client.get(lines_url(session, "E1001", "lines_match")).status_code == 405
    assert outsider_client.get(employee_url(session, "E1001")).status_code == 404
    assert outsider_client.get(chase_url(session)).status_code == 404
    assert operator_client.get(lines_url(session, "E1001", "employee_lines")).status_code == 302
    fragment = operator_client.get(lines_url(session, "E1001", "employee_lines"), headers=HTMX)
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()


def test_a_closed_session_shows_no_buttons(operator_client, make_session, operator):
    session = make_session()
    session_close(session=session, reason="over", actor=operator, close_anyway=True)

    page = operator_client.get(employee_url(session, "E1001")).content.decode()

    assert "Same amount, same day" in page and "Match with" not in page


def test_the_session_table_counts_each_employees_unmatched_charges(operator_client, make_session):
    session = make_session()

    page = operator_client.get(
        reverse("sessions_app:session_detail", args=[session.pk])
    ).content.decode()

    assert "Unmatched charges</th>" in page
    assert f'{chase_url(session)}?employee=E1004">2</a>' in page


def test_the_unmatched_charges_page_filters_sorts_pages_and_downloads(
    operator_client, viewer_client, make_session, django_assert_max_num_queries
):
    session = make_session()

    with django_assert_max_num_queries(12):
        page = operator_client.get(chase_url(session))
    sorted_page = operator_client.get(chase_url(session), {"sort": "-amount"}).content.decode()
    filtered = viewer_client.get(
        chase_url(session), {"q": "uber"}, headers={"HX-Request": "true", "HX-Target": "charges"}
    ).content.decode()
    download = operator_client.get(chase_url(session), {"employee": "E1004", "format": "csv"})

    assert page.status_code == 200
    assert "9 charges" in page.content.decode()
    amounts = [sorted_page.index(a) for a in ("1,250.00", "999.99", "89.99", "12.30", "-45.00")]
    assert amounts == sorted(amounts)
    assert "<html" not in filtered and "2 charges" in filtered and "MARRIOTT" not in filtered
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert [row[4] for row in rows[1:]] == ["MARRIOTT", "STARBUCKS"]


def test_admin_shows_pairs_and_decisions_read_only(admin_client, make_session, operator):
    session = make_session()
    lines = employee_lines(session=session, employee_id="E1001")
    lines_unmatch(
        session=session, employee_id="E1001", card_line_id=lines.pairs[0].card_line.id,
        note="other trip", actor=operator,
    )  # fmt: skip

    pairs = admin_client.get(reverse("admin:matching_linepair_changelist"))
    unmatched = admin_client.get(reverse("admin:matching_unmatchedline_changelist"))
    decisions = admin_client.get(reverse("admin:matching_manualdecision_changelist"))
    add = admin_client.get(reverse("admin:matching_linepair_add"))

    assert pairs.status_code == 200 and "Same amount, same day" in pairs.content.decode()
    assert "HILTON GARDEN INN" in unmatched.content.decode()
    assert "other trip" in decisions.content.decode()
    assert add.status_code == 403
