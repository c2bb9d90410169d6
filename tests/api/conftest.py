"""API clients for each kind of caller, authenticated as scripts are: with a token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sessions_app.models import ProcessingSession
from tests.factories import UserFactory


def employee(api: APIClient, session: ProcessingSession, employee_id: str) -> dict[str, Any]:
    """One employee of the session as the API shows it."""
    return api.get(f"/api/v1/sessions/{session.pk}/employees/{employee_id}/").json()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """The user fixtures set passwords; the production hasher would spend most of each
    test's setup on key stretching that no API test is about."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def client_for() -> Callable[[Any], APIClient]:
    def build(user: Any) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return build


@pytest.fixture
def api(operator: Any, client_for: Callable[[Any], APIClient]) -> APIClient:
    return client_for(operator)


@pytest.fixture
def viewer_api(viewer: Any, client_for: Callable[[Any], APIClient]) -> APIClient:
    return client_for(viewer)


@pytest.fixture
def outsider_api(outsider: Any, client_for: Callable[[Any], APIClient]) -> APIClient:
    return client_for(outsider)


@pytest.fixture
def staff(db: Any) -> Any:
    return UserFactory(username="sam", is_staff=True)


@pytest.fixture
def staff_api(staff: Any, client_for: Callable[[Any], APIClient]) -> APIClient:
    return client_for(staff)


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()


@pytest.fixture
def session(make_session: Callable[..., ProcessingSession]) -> ProcessingSession:
    """CAR + receipts v1 of the samples, recalculated (tolerance 1.00)."""
    return make_session()


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """API calls whose services queue a job on commit run it inline, as a worker would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def db_state(media_root: Any) -> Callable[[], dict[str, Any]]:
    """Everything an upload could have written: rows of every kind and stored files."""
    from audit.models import ActivityEvent
    from recalc.models import RecalcJob
    from sessions_app.models import (
        CardTransaction,
        EmployeeRevision,
        ReceiptLine,
        ReceiptVersion,
    )

    models = [
        ProcessingSession,
        ReceiptVersion,
        ReceiptLine,
        CardTransaction,
        EmployeeRevision,
        RecalcJob,
        ActivityEvent,
    ]

    def snapshot() -> dict[str, Any]:
        state: dict[str, Any] = {model.__name__: model.objects.count() for model in models}
        state["sessions"] = list(
            ProcessingSession.objects.order_by("pk").values_list("pk", "status", "updated_at")
        )
        state["files"] = sorted(str(p) for p in media_root.rglob("*") if p.is_file())
        return state

    return snapshot


@pytest.fixture
def export(operator: Any) -> Callable[..., Any]:
    """Generate an export batch through the service, as another door would."""
    from exports.services import export_batch_create

    def generate(session: ProcessingSession, **kwargs: Any) -> Any:
        kwargs.setdefault("export_type", "pvault")
        kwargs.setdefault("actor", operator)
        batch, _ = export_batch_create(session=session, **kwargs)
        return batch

    return generate
