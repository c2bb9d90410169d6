"""Batch codes count per engagement, and an Idempotency-Key is bound to its request
(SPEC §6)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from exports.errors import IdempotencyKeyReused
from exports.models import ExportBatch
from exports.services import export_batch_create
from sessions_app.models import Membership
from tests.factories import EngagementFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_engagement(operator: Any) -> Any:
    engagement = EngagementFactory(name="Beta Ltd", slug="beta-ltd")
    MembershipFactory(user=operator, engagement=engagement, role=Membership.Role.OPERATOR)
    return engagement


@pytest.fixture
def api(operator: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator).key}")
    return client


def test_each_engagement_counts_its_own_batches(
    make_session: Any, operator: Any, other_engagement: Any
) -> None:
    first = make_session()
    second_of_first = make_session(name="October 2026 (second card)")
    other = make_session(engagement=other_engagement)

    codes = [
        export_batch_create(session=first, export_type="pvault", actor=operator)[0].batch_code,
        export_batch_create(session=second_of_first, export_type="pvault", actor=operator)[
            0
        ].batch_code,
        export_batch_create(session=other, export_type="pvault", actor=operator)[0].batch_code,
        export_batch_create(session=other, export_type="exceptions", actor=operator)[0].batch_code,
    ]

    # Beta's first October export is its 001, whatever Acme did.
    assert codes == ["PV-2026-10-001", "PV-2026-10-002", "PV-2026-10-001", "EX-2026-10-001"]


def test_a_replayed_key_returns_the_same_batch(api: APIClient, make_session: Any) -> None:
    session = make_session()
    url = f"/api/v1/sessions/{session.pk}/exports/"
    body = {"export_type": "pvault"}
    first = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    again = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert ExportBatch.objects.count() == 1


@pytest.mark.parametrize(
    "second_body",
    [
        {"export_type": "pvault"},  # another type than the first (exceptions)
        {"export_type": "exceptions", "delta_only": False},  # another scope
        {"export_type": "exceptions", "reason": "other body"},  # another body
    ],
)
def test_the_same_key_with_another_request_is_refused(
    api: APIClient, make_session: Any, second_body: dict[str, Any]
) -> None:
    session = make_session()
    url = f"/api/v1/sessions/{session.pk}/exports/"
    first = api.post(url, {"export_type": "exceptions"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == 201

    refused = api.post(url, second_body, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "idempotency_key_reused"
    assert ExportBatch.objects.count() == 1


def test_the_same_key_on_another_session_is_refused(api: APIClient, make_session: Any) -> None:
    first = make_session()
    second = make_session(name="October 2026 (second card)")
    body = {"export_type": "pvault"}
    made = api.post(
        f"/api/v1/sessions/{first.pk}/exports/", body, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert made.status_code == 201

    refused = api.post(
        f"/api/v1/sessions/{second.pk}/exports/", body, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "idempotency_key_reused"
    assert not ExportBatch.objects.filter(session=second).exists()


def test_the_service_refuses_a_reused_key(make_session: Any, operator: Any) -> None:
    session = make_session()
    export_batch_create(
        session=session, export_type="exceptions", actor=operator, idempotency_key="k"
    )
    with pytest.raises(IdempotencyKeyReused):
        export_batch_create(
            session=session, export_type="pvault", actor=operator, idempotency_key="k"
        )


def test_the_pages_hidden_key_is_bound_too(
    client: Client, operator: Any, make_session: Any
) -> None:
    session = make_session()
    client.force_login(operator)
    url = reverse("exports:export_new", args=[session.pk])
    form = {"export_type": "exceptions", "scope": "delta", "file_format": "csv"}
    made = client.post(url, {**form, "idempotency_key": "page-key"})
    assert made.status_code in (200, 302)
    assert ExportBatch.objects.count() == 1

    refused = client.post(url, {**form, "export_type": "pvault", "idempotency_key": "page-key"})

    assert refused.status_code == 422
    assert "already used for a different export request" in refused.content.decode()
    assert ExportBatch.objects.count() == 1
