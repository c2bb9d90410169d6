"""Employee ids come from files: `/`, `%`, `?`, `#`, spaces and non-ASCII all work in
every URL of every door (SPEC §9): session page, employee page, resolve (page and API),
admin list and audit history."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sessions_app.models import EmployeeRevision, ProcessingSession
from sessions_app.services import session_create

pytestmark = pytest.mark.django_db

# Each id is an exception (the receipt falls short of the card), so each can be resolved.
AWKWARD_IDS = ["CARD/4411/07", "50% share", "Q?#1", "Jürgen Müller", "E 1001"]


def _csv(header: str, rows: list[str]) -> SimpleUploadedFile:
    return SimpleUploadedFile("file.csv", ("\n".join([header, *rows]) + "\n").encode("utf-8"))


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@pytest.fixture
def session(engagement: Any, operator: Any, django_capture_on_commit_callbacks: Any) -> Any:
    card = _csv(
        "Cardholder Name,Employee ID,Posting Date,Merchant,Billing Amount",
        [f"Name {i},{_quoted(eid)},10/02/2026,HOTEL,$100.00" for i, eid in enumerate(AWKWARD_IDS)],
    )
    receipts = _csv(
        "Employee Number,Employee Name,Receipt Date,Receipt ID,Amount",
        [f"{_quoted(eid)},Name {i},2026-10-02,R-{i},40.00" for i, eid in enumerate(AWKWARD_IDS)],
    )
    with django_capture_on_commit_callbacks(execute=True):
        created = session_create(
            engagement=engagement,
            name="Awkward ids",
            period_start=datetime.date(2026, 10, 1),
            period_end=datetime.date(2026, 10, 31),
            tolerance=Decimal("1.00"),
            card_file=card,
            receipts_file=receipts,
            actor=operator,
        )
    return ProcessingSession.objects.get(pk=created.pk)


@pytest.fixture
def operator_client(client: Client, operator: Any) -> Client:
    client.force_login(operator)
    return client


def test_it_reads_every_awkward_id_from_the_file(session: Any) -> None:
    stored = set(
        EmployeeRevision.objects.filter(session=session).values_list("employee_id", flat=True)
    )
    assert stored == set(AWKWARD_IDS)


def test_the_session_page_links_every_employee(operator_client: Client, session: Any) -> None:
    response = operator_client.get(reverse("sessions_app:session_detail", args=[session.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for employee_id in AWKWARD_IDS:
        assert reverse("sessions_app:employee_detail", args=[session.pk, employee_id]) in html


@pytest.mark.parametrize("employee_id", AWKWARD_IDS)
def test_the_employee_page_opens_from_its_link(
    operator_client: Client, session: Any, employee_id: str
) -> None:
    url = reverse("sessions_app:employee_detail", args=[session.pk, employee_id])
    response = operator_client.get(url)
    assert response.status_code == 200
    assert response.context["revision"].employee_id == employee_id


@pytest.mark.parametrize("employee_id", AWKWARD_IDS)
def test_the_page_resolves_the_employee(
    operator_client: Client, session: Any, employee_id: str
) -> None:
    revision = EmployeeRevision.objects.get(session=session, employee_id=employee_id)
    url = reverse("sessions_app:employee_resolve", args=[session.pk, employee_id])
    response = operator_client.post(url, {"note": "approved", "version": revision.version})
    assert response.status_code in (200, 302)
    revision.refresh_from_db()
    assert revision.status == EmployeeRevision.Status.RESOLVED
    others = EmployeeRevision.objects.filter(session=session).exclude(pk=revision.pk)
    assert not others.filter(status=EmployeeRevision.Status.RESOLVED).exists()


@pytest.mark.parametrize("employee_id", AWKWARD_IDS)
def test_the_api_reads_and_resolves_the_employee(
    operator: Any, session: Any, employee_id: str
) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator).key}")
    url = reverse("api-employee", args=[session.pk, employee_id])
    read = api.get(url)
    assert read.status_code == 200
    assert read.json()["employee_id"] == employee_id
    answer = api.patch(
        url,
        {"action": "resolve", "note": "approved", "version": read.json()["version"]},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == EmployeeRevision.Status.RESOLVED


def test_the_admin_list_links_every_history(admin_client: Client, session: Any) -> None:
    response = admin_client.get(reverse("admin:sessions_app_employeerevision_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    for employee_id in AWKWARD_IDS:
        assert reverse("audit:revision_history", args=[session.pk, employee_id]) in html


@pytest.mark.parametrize("employee_id", AWKWARD_IDS)
def test_the_audit_history_opens(operator_client: Client, session: Any, employee_id: str) -> None:
    response = operator_client.get(
        reverse("audit:revision_history", args=[session.pk, employee_id])
    )
    assert response.status_code == 200
    assert response.context["revision"].employee_id == employee_id


def test_an_id_with_a_nul_is_not_found(operator_client: Client, session: Any) -> None:
    response = operator_client.get(f"/sessions/{session.pk}/employees/%00/")
    assert response.status_code == 404
    api_answer = operator_client.get(f"/api/v1/sessions/{session.pk}/employees/%00/")
    assert api_answer.status_code == 404
    assert api_answer.json()["error"]["code"] == "not_found"
