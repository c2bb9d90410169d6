"""What every endpoint shares: authentication, the one error format, schema and docs."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management import call_command
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from core.api_errors import api_error_for
from core.errors import InvalidFile, RowError, SessionClosed

pytestmark = pytest.mark.django_db

EVERY_KIND_OF_ENDPOINT = [
    ("get", "/api/v1/me/"),
    ("get", "/api/v1/sessions/"),
    ("post", "/api/v1/sessions/"),
    ("get", "/api/v1/sessions/1/"),
    ("patch", "/api/v1/sessions/1/"),
    ("post", "/api/v1/sessions/1/receipts/"),
    ("post", "/api/v1/sessions/1/card/"),
    ("get", "/api/v1/sessions/1/employees/"),
    ("get", "/api/v1/jobs/1/"),
    ("get", "/api/v1/jobs/1/events/"),
    ("post", "/api/v1/jobs/1/cancel/"),
    ("post", "/api/v1/sessions/1/exports/"),
    ("get", "/api/v1/exports/1/download/"),
    ("post", "/api/v1/sessions/bulk-close/"),
    ("post", "/api/v1/sessions/bulk-export/"),
    ("get", "/api/v1/analytics/sessions/"),
]


@pytest.mark.parametrize(("method", "url"), EVERY_KIND_OF_ENDPOINT)
def test_it_answers_401_without_credentials(anonymous_api: Any, method: str, url: str) -> None:
    response = getattr(anonymous_api, method)(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_it_answers_401_for_a_wrong_token() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get("/api/v1/me/")

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "authentication_failed",
        "message": "Invalid token.",
        "details": None,
    }


def test_it_prints_a_working_token_from_createoperator(engagement: Any) -> None:
    out = io.StringIO()
    call_command("createoperator", "script-bot", "--engagement", "Acme Corp", stdout=out)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().splitlines()[-1]}")

    response = client.get("/api/v1/me/")

    assert response.status_code == 200
    assert response.json()["engagements"][0]["role"] == "operator"


def test_it_accepts_the_browser_session_but_enforces_csrf(operator: Any, session: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(operator)
    url = f"/api/v1/sessions/{session.pk}/"

    read = client.get(url)
    write = client.patch(url, {"name": "x"}, format="json")

    assert read.status_code == 200
    assert write.status_code == 403
    assert "CSRF" in write.json()["error"]["message"]


def test_it_answers_unknown_api_urls_with_json_404(api: Any) -> None:
    response = api.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_answers_a_wrong_method_with_json_405(api: Any) -> None:
    response = api.delete("/api/v1/sessions/")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_it_answers_malformed_json_with_400(api: Any, session: Any) -> None:
    response = api.patch(
        f"/api/v1/sessions/{session.pk}/", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_it_refuses_an_oversized_json_body_with_400(api: Any, session: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = api.patch(f"/api/v1/sessions/{session.pk}/", {"name": "x" * 5000}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request_too_large"
    session.refresh_from_db()
    assert session.name == "October 2026"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/sessions/99999999999999999999999/",
        "/api/v1/jobs/9223372036854775808/",
        "/api/v1/exports/9223372036854775808/download/",
        "/api/v1/sessions/1/employees/%00/",
        "/api/v1/engagements/%C3%A9t%C3%A9/import-profiles/",
    ],
)
def test_it_never_answers_bad_identifiers_with_a_500(api: Any, url: str) -> None:
    response = api.get(url)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_answers_a_runaway_script_with_429(api: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "2/minute"})
    cache.clear()
    try:
        responses = [api.get("/api/v1/me/") for _ in range(3)]
    finally:
        cache.clear()

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].json()["error"]["code"] == "throttled"
    assert int(responses[2]["Retry-After"]) > 0
    assert responses[2].json()["error"]["details"]["wait_seconds"] > 0


def test_it_carries_the_request_id(api: Any) -> None:
    response = api.get("/api/v1/me/", HTTP_X_REQUEST_ID="script-run-42")

    assert response["X-Request-ID"] == "script-run-42"


def test_it_turns_domain_errors_into_their_code_and_status() -> None:
    closed = api_error_for(SessionClosed("Session 'x' is closed."))
    bad_file = api_error_for(InvalidFile([RowError(2, "Amount", "12.3.4", "not an amount")]))
    model_error = api_error_for(DjangoValidationError({"name": ["Too long."]}))

    assert closed is not None and (closed.status, closed.body()) == (
        409,
        {"error": {"code": "session_closed", "message": "Session 'x' is closed.", "details": None}},
    )
    assert bad_file is not None and bad_file.body()["error"]["error_count"] == 1
    assert bad_file.body()["error"]["details"] == [
        {"line": 2, "column": "Amount", "value": "12.3.4", "message": "not an amount"}
    ]
    assert model_error is not None and model_error.body()["error"]["details"] == {
        "name": ["Too long."]
    }
    assert api_error_for(ZeroDivisionError()) is None  # a bug stays a 500


# --- Schema and docs -----------------------------------------------------------------------------


def test_it_generates_a_schema_without_a_single_warning(tmp_path: Any) -> None:
    target = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    assert {
        "/api/v1/me/",
        "/api/v1/sessions/",
        "/api/v1/sessions/{id}/",
        "/api/v1/sessions/{id}/switch/",
        "/api/v1/engagements/{slug}/import-profiles/",
        "/api/v1/sessions/{id}/receipts/",
        "/api/v1/sessions/{id}/receipts/{version}/reapply/",
        "/api/v1/sessions/{id}/recalculate/",
        "/api/v1/sessions/{id}/reprocess-status/",
        "/api/v1/jobs/{id}/",
        "/api/v1/jobs/{id}/cancel/",
        "/api/v1/jobs/{id}/resume/",
        "/api/v1/jobs/{id}/apply/",
        "/api/v1/jobs/{id}/discard/",
        "/api/v1/jobs/{id}/diff/",
        "/api/v1/jobs/{id}/events/",
        "/api/v1/sessions/{id}/employees/",
        "/api/v1/sessions/{id}/employees/{employee_id}/",
        "/api/v1/sessions/{id}/change-summary/",
        "/api/v1/sessions/{id}/proof/",
        "/api/v1/sessions/{id}/export-delta/{export_type}/",
        "/api/v1/sessions/{id}/exports/",
        "/api/v1/exports/{id}/download/",
        "/api/v1/exports/{id}/void/",
        "/api/v1/sessions/{id}/mark-exported/",
        "/api/v1/sessions/{id}/close/",
        "/api/v1/sessions/{id}/card/",
        "/api/v1/sessions/bulk-close/",
        "/api/v1/sessions/bulk-export/",
        "/api/v1/analytics/sessions/",
    } <= paths
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorBody")


def test_it_serves_the_schema_to_a_logged_in_caller_only(anonymous_api: Any, api: Any) -> None:
    refused = anonymous_api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert anonymous_api.get("/api/docs/").status_code == 401

    response = api.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert "/api/v1/sessions/" in response.json()["paths"]


def test_it_serves_swagger_ui_without_any_cdn(client: Any, settings: Any, operator: Any) -> None:
    client.force_login(operator)
    response = client.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in a for a in assets)
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))]
    assert "cdn" not in page.lower()
    assert not re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline script under the CSP"
    for asset in assets:
        if "drf_spectacular_sidecar" in asset:
            assert finders.find(asset.removeprefix(settings.STATIC_URL)), asset
