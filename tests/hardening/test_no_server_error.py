"""No parameter makes a 500 (SPEC §9): every page and every API list endpoint answers
bad values with a 400/404 (JSON on the API) or simply ignores them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from exports.services import export_batch_create
from recalc.models import RecalcJob
from sessions_app.models import Membership
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

HUGE = "9" * 30
BAD_QUERIES = [
    "engagement=%00",
    "q=%00&search=%00&status=%00",
    f"page={HUGE}",
    "page=-1",
    "page=0",
    "page=abc",
    f"p={HUGE}",
    "p=-1",
    "ordering=no_such_field",
    "ordering=-password",
    "o=99.zz",
    "sort=no_such_column",
    "status=bogus&change=bogus&exported=maybe",
    "date_from=9999-12-31",
    "date_to=9999-12-31",
    "date_from=0001-01-01&date_to=9999-12-31",
    "date_from=2026-13-45",
    "at=9999-12-31&at=0001-01-01",
    "at=0001-01-01",
    "session=abc&actor=-1&verb=%3Cscript%3E",
    f"session={HUGE}&actor={HUGE}",
    "engagement=no-such-engagement",
    f"q={'x' * 5000}",
    "include_exported=perhaps",
    "header=%F0%9F%92%A5&header=" + "y" * 300,
    "updated_at__year=99999&created_at__month=13",
    "session__id__exact=abc&status__exact=%00",
]

PAGES = [
    "/",
    "/sessions/new/",
    "/import-profiles/new/?engagement=acme-corp",
    "/sessions/{session}/",
    "/sessions/{session}/employees/E1001/",
    "/sessions/{session}/jobs/{job}/",
    "/exports/sessions/{session}/new/",
    "/exports/sessions/{session}/preview/",
    "/audit/engagements/acme-corp/log/",
    "/audit/engagements/acme-corp/log.csv",
    "/audit/sessions/{session}/timeline/",
    "/audit/sessions/{session}/as-of/",
    "/audit/sessions/{session}/employees/E1001/history/",
    "/audit/analytics/",
    "/audit/analytics/exports-per-week.csv",
    "/admin/audit/apitoken/",
    "/notifications/",
    "/admin/sessions_app/processingsession/",
    "/admin/sessions_app/employeerevision/",
    "/admin/sessions_app/cardtransaction/",
    "/admin/sessions_app/receiptline/",
    "/admin/exports/exportbatch/",
    "/admin/exports/exportline/",
    "/admin/recalc/recalcjob/",
    "/admin/audit/activityevent/",
]

API_LISTS = [
    "/api/v1/me/",
    "/api/v1/sessions/",
    "/api/v1/sessions/{session}/employees/",
    "/api/v1/sessions/{session}/receipts/",
    "/api/v1/sessions/{session}/exports/",
    "/api/v1/sessions/{session}/export-delta/pvault/",
    "/api/v1/sessions/{session}/change-summary/",
    "/api/v1/jobs/{job}/diff/",
    "/api/v1/engagements/acme-corp/import-profiles/",
    "/api/v1/analytics/sessions/",
]


@pytest.fixture
def staff_operator(engagement: Any, settings: Any) -> Any:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = UserFactory(username="stella", is_staff=True, is_superuser=True)
    MembershipFactory(user=user, engagement=engagement, role=Membership.Role.OPERATOR)
    return user


@pytest.fixture
def ids(make_session: Any, staff_operator: Any) -> dict[str, int]:
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=staff_operator)
    job = RecalcJob.objects.filter(session=session).latest("pk")
    return {"session": session.pk, "job": job.pk}


def _with(path: str, query: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}"


def _answers(client: Any, path: str) -> list[tuple[str, int]]:
    return [(query, client.get(_with(path, query)).status_code) for query in BAD_QUERIES]


@pytest.mark.parametrize("page", PAGES)
def test_no_page_answers_a_bad_parameter_with_a_500(
    client: Client, staff_operator: Any, ids: dict[str, int], page: str
) -> None:
    client.force_login(staff_operator)
    path = page.format(**ids)
    assert client.get(path).status_code in (200, 302)
    answers = _answers(client, path)
    assert [answer for answer in answers if answer[1] >= 500] == []
    assert {status for _, status in answers} <= {200, 302, 400, 404}


@pytest.mark.parametrize("endpoint", API_LISTS)
def test_no_api_list_answers_a_bad_parameter_with_a_500(
    staff_operator: Any, ids: dict[str, int], endpoint: str
) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_operator).key}")
    path = endpoint.format(**ids)
    assert client.get(path).status_code == 200
    for query in BAD_QUERIES:
        response = client.get(f"{path}?{query}")
        assert response.status_code in (200, 400, 404), (query, response.content[:300])
        assert response["Content-Type"] == "application/json"
        if response.status_code >= 400:
            assert response.json()["error"]["code"], query
