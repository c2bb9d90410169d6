"""No-store and CSP headers, and every API error path in the API's JSON format (SPEC §9)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import Http404
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from core import api_errors
from exports.services import export_batch_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client: Client, operator: Any) -> Client:
    client.force_login(operator)
    return client


def _no_store(response: Any) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_logged_in_pages_are_not_stored(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    for url in ("/", reverse("sessions_app:session_detail", args=[session.pk])):
        response = operator_client.get(url)
        assert response.status_code == 200
        assert _no_store(response), url


def test_downloads_are_not_stored(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    response = operator_client.get(reverse("exports:batch_download", args=[batch.pk]))
    assert response.status_code == 200
    assert _no_store(response)


def test_api_answers_are_not_stored(operator: Any, client: Client) -> None:
    token = Token.objects.create(user=operator).key
    assert _no_store(client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token}"))
    assert _no_store(client.get("/api/v1/me/"))  # the 401 too


def test_the_login_page_may_be_cached_but_has_a_csp(client: Client) -> None:
    response = client.get("/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy


def test_pages_carry_no_inline_script(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    for url in ("/", reverse("sessions_app:session_detail", args=[session.pk]), "/login/"):
        html = operator_client.get(url).content.decode()
        assert "Content-Security-Policy" in operator_client.get(url).headers
        for tag in html.split("<script")[1:]:
            assert "src=" in tag.split(">", 1)[0], f"inline script on {url}"
        assert " onclick=" not in html and " onchange=" not in html and " onsubmit=" not in html


def _assert_api_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()["error"]
    assert body["code"] == code
    assert body["message"]
    assert "details" in body


def test_unknown_api_paths_answer_json_404_whatever_the_method(
    operator_client: Client, settings: Any
) -> None:
    settings.DEBUG = True  # Django's debug 404 page must not answer under /api/ either
    for method in ("get", "post", "patch", "put", "delete"):
        for path in ("/api/v1/no-such-thing/", "/api/v1/jobs/x%0Ay\u00fd/"):
            response = getattr(operator_client, method)(path)
            _assert_api_error(response, 404, "not_found")


def test_a_wrong_method_answers_json_405(api_client_for_operator: Client) -> None:
    _assert_api_error(api_client_for_operator.delete("/api/v1/me/"), 405, "method_not_allowed")


def test_a_session_post_without_csrf_answers_json_403(operator: Any, make_session: Any) -> None:
    session = make_session()
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(f"/api/v1/sessions/{session.pk}/recalculate/")
    _assert_api_error(response, 403, "permission_denied")
    assert "CSRF" in response.json()["error"]["message"]


def test_django_error_views_answer_json_under_the_api_and_html_elsewhere(rf: Any) -> None:
    for view in (
        lambda request: api_errors.csrf_failure(request, reason="CSRF cookie not set."),
        api_errors.server_error,
        lambda request: api_errors.page_not_found(request, Http404()),
        lambda request: api_errors.bad_request(request, None),
    ):
        api_answer = view(rf.post("/api/v1/sessions/1/close/"))
        page_answer = view(rf.post("/sessions/1/close/"))
        assert api_answer["Content-Type"] == "application/json"
        assert json.loads(api_answer.content)["error"]["code"]
        assert page_answer["Content-Type"].startswith("text/html")
        assert api_answer.status_code == page_answer.status_code >= 400


def test_a_server_error_answers_json_under_the_api(
    api_client_for_operator: Client, monkeypatch: Any
) -> None:
    from sessions_app import apis

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(apis.MeApi, "get", explode)
    api_client_for_operator.raise_request_exception = False
    _assert_api_error(api_client_for_operator.get("/api/v1/me/"), 500, "server_error")


@pytest.fixture
def api_client_for_operator(operator: Any) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator).key}")
