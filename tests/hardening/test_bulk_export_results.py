"""A bulk export's per-session results travel in the ZIP (manifest.csv and manifest.json)
and a short summary header that does not grow with the number of sessions (SPEC §6)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import ProcessingSessionFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_header_stays_short_for_many_sessions(engagement: Any) -> None:
    staff = UserFactory(username="sam", is_staff=True)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    # Bare sessions with nothing to export: each fails, and is reported.
    sessions = [ProcessingSessionFactory(engagement=engagement) for _ in range(60)]
    ids = [session.pk for session in sessions] + [999_999]

    response = api.post("/api/v1/sessions/bulk-export/", {"session_ids": ids}, format="json")

    assert response.status_code == 200
    assert response["X-Export-Summary"] == "sessions=61 ok=0 failed=61"
    assert not any("session_id" in value for _, value in response.items())
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    results = json.loads(archive.read("manifest.json"))["results"]
    assert [result["session_id"] for result in results] == ids
    assert not any(result["ok"] for result in results)
    assert len(archive.read("manifest.csv").decode().splitlines()) == 1 + len(ids)
