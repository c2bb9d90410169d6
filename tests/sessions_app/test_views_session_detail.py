"""The session page: tiles, proof, change summary, employee table, panels, fragments."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from exports.services import export_batch_create
from sessions_app.models import EmployeeRevision, ProcessingSession
from sessions_app.services import session_create
from tests.pages import HTMX

pytestmark = pytest.mark.django_db


def _url(session: ProcessingSession) -> str:
    return reverse("sessions_app:session_detail", args=[session.pk])


def _rows(response: Any) -> list[str]:
    """Employee ids of the table rows, in the order shown."""
    return re.findall(
        r'<tr id="employee-[^"]*">\s*<td><a href="[^"]*">([^<]+)</a>', response.content.decode()
    )


def test_it_shows_the_whole_session_page(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    response = operator_client.get(_url(session))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page
    assert "October 2026" in page
    assert "The session balances" in page
    for employee_id in ("E1001", "E1004", "E1008"):
        assert employee_id in page
    assert "Missing receipts" in page
    assert 'id="job-panel"' in page
    assert "created with" in page  # the timeline
    assert "receipts_2026_10_v1.csv" in page  # the receipt versions


def test_it_shows_the_change_summary_of_a_fresh_session(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    response = operator_client.get(_url(session), headers={**HTMX, "HX-Target": "session-summary"})
    html = " ".join(response.content.decode().split())
    assert html.startswith('<section id="session-summary"')
    assert 'New</a> <span class="muted">— never exported</span></th><td class="num">4</td>' in html
    assert '<td class="num">1,484.75</td>' in html
    assert "A delta export sends the new and changed employees: 4 now." in html


def test_it_answers_htmx_with_only_the_asked_panel(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    response = operator_client.get(_url(session), headers={**HTMX, "HX-Target": "employees"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="employees"')
    assert "E1002" in html
    assert response["Vary"].count("HX-Target") == 1


def test_it_filters_the_employee_table_by_status_change_and_search(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    fragment = {**HTMX, "HX-Target": "employees"}
    missing = operator_client.get(_url(session), {"status": "missing_receipts"}, headers=fragment)
    assert _rows(missing) == ["E1003", "E1004", "E1006"]
    new = operator_client.get(_url(session), {"change": "new"}, headers=fragment)
    assert _rows(new) == ["E1001", "E1002", "E1005", "E1007"]
    found = operator_client.get(_url(session), {"q": "e1008"}, headers=fragment)
    assert _rows(found) == ["E1008"]
    exported = operator_client.get(_url(session), {"exported": "yes"}, headers=fragment)
    assert _rows(exported) == []
    assert "No employee matches these filters." in exported.content.decode()


def test_it_sorts_the_employee_table_both_ways(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    fragment = {**HTMX, "HX-Target": "employees"}
    up = operator_client.get(_url(session), {"sort": "car_amount"}, headers=fragment)
    down = operator_client.get(_url(session), {"sort": "-car_amount"}, headers=fragment)
    ids_up = _rows(up)
    assert ids_up[0] == "E1008" and ids_up[-1] == "E1002"
    assert _rows(down) == ids_up[::-1]
    assert 'aria-sort="descending"' in down.content.decode()
    nonsense = operator_client.get(_url(session), {"sort": "password"}, headers=fragment)
    assert nonsense.status_code == 200


def test_it_marks_changed_amounts_with_the_previous_amount(
    operator_client: Client, make_session: Any, upload_receipts: Any
) -> None:
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv")
    response = operator_client.get(
        _url(session), {"q": "E1001"}, headers={**HTMX, "HX-Target": "employees"}
    )
    html = response.content.decode()
    assert "▲" in html
    assert "was 155.00" in html


def test_it_shows_an_unbalanced_proof_loudly_with_the_employees_causing_it(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    # A revision whose card total no longer agrees with its card lines.
    EmployeeRevision.objects.filter(session=session, employee_id="E1002").update(
        car_amount=Decimal("1200.00")
    )
    html = operator_client.get(_url(session)).content.decode()
    assert "does NOT balance" in html
    assert 'role="alert"' in html
    assert reverse("sessions_app:employee_detail", args=[session.pk, "E1002"]) in html


def test_an_archived_session_still_shows_its_proof_from_the_archive(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    from sessions_app.archival import session_archive
    from sessions_app.services import session_close

    session = make_session()
    session_close(session=session, reason="done", actor=operator)
    session_archive(session=session, actor=operator)

    html = operator_client.get(_url(session)).content.decode()
    assert "The session balances" in html
    assert "3,087.03" in html and "from the archive manifest" in html
    assert f"manage.py restore_session {session.pk}" in html
    assert "E1001" in html  # revisions are never archived


def test_it_hides_write_controls_from_viewers(
    client: Client, viewer: Any, make_session: Any
) -> None:
    session = make_session()
    client.force_login(viewer)
    html = client.get(_url(session)).content.decode()
    assert "E1001" in html
    assert reverse("sessions_app:receipts_upload", args=[session.pk]) not in html
    assert reverse("sessions_app:session_close", args=[session.pk]) not in html
    assert "only operators change this session" in html


def test_it_hides_write_controls_on_a_closed_session(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    from sessions_app.services import session_close

    session = make_session()
    session_close(session=session, reason="period audited", actor=operator)
    html = operator_client.get(_url(session)).content.decode()
    assert "period audited" in html
    assert reverse("sessions_app:receipts_upload", args=[session.pk]) not in html
    assert reverse("exports:export_new", args=[session.pk]) not in html
    assert "Roll back" not in html


def test_it_lists_export_batches_with_a_download_link(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    response = operator_client.get(_url(session), headers={**HTMX, "HX-Target": "export-history"})
    html = response.content.decode()
    assert batch.batch_code in html
    assert reverse("exports:batch_download", args=[batch.pk]) in html


def test_it_refuses_other_methods(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    assert operator_client.post(_url(session)).status_code == 405


def test_it_hides_another_engagements_session(
    client: Client, outsider: Any, make_session: Any
) -> None:
    session = make_session()
    client.force_login(outsider)
    assert client.get(_url(session)).status_code == 404


def test_it_sends_anonymous_users_to_the_login_page(client: Client, make_session: Any) -> None:
    session = make_session()
    response = client.get(_url(session))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def _big_session(engagement: Any, operator: Any, capture: Any, employees: int) -> Any:
    card = ["Employee ID,Employee Name,Amount"] + [
        f"E{n:05d},Person {n},{n}.25" for n in range(1, employees + 1)
    ]
    receipts = ["Employee ID,Amount"] + [f"E{n:05d},{n}.25" for n in range(1, employees, 2)]
    with capture(execute=True):
        session = session_create(
            engagement=engagement,
            name=f"Big {employees}",
            period_start=datetime.date(2026, 11, 1),
            period_end=datetime.date(2026, 11, 30),
            card_file=SimpleUploadedFile("card.csv", "\n".join(card).encode()),
            receipts_file=SimpleUploadedFile("receipts.csv", "\n".join(receipts).encode()),
            actor=operator,
        )
    export_batch_create(session=session, export_type="pvault", actor=operator)
    return session


# One of them asks whether the card statement may still be replaced (no pVault export yet),
# one counts the unmatched charges of the employees shown.
DETAIL_QUERY_CEILING = 24


@pytest.mark.parametrize("employees", [10, 400])
def test_it_renders_the_page_in_a_fixed_number_of_queries(
    operator_client: Client,
    engagement: Any,
    operator: Any,
    django_capture_on_commit_callbacks: Any,
    django_assert_max_num_queries: Any,
    employees: int,
) -> None:
    session = _big_session(engagement, operator, django_capture_on_commit_callbacks, employees)
    with django_assert_max_num_queries(DETAIL_QUERY_CEILING):
        response = operator_client.get(_url(session))
    assert response.status_code == 200
    assert response.context["figures"].employee_count == employees
