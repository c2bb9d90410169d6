from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection
from django.test import Client
from django_q.conf import Conf
from hypothesis import settings as hypothesis_settings

from sessions_app.models import Membership, ProcessingSession
from sessions_app.services import receipt_version_upload, session_create
from tests.factories import EngagementFactory, MembershipFactory, UserFactory
from tests.samples import fixture_file

# CI replays the same examples on every run (a red build is reproducible); a developer's run
# explores new ones each time.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Every test stores files in its own folder: nothing leaks between tests."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ARCHIVE_ROOT = tmp_path / "archive"
    # Changing STORAGES resets Django's cached backends, so storages["archive"] follows.
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "archive")},
        },
    }
    return settings.MEDIA_ROOT


@pytest.fixture
def archive(media_root: Path) -> FileSystemStorage:
    """The `archive` storage, in this test's own folder (set up by `media_root`)."""
    return storages["archive"]


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def postgres_only() -> None:
    """Skip on SQLite: the test needs PostgreSQL (row locks, concurrent connections, or
    foreign keys checked per statement)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


@pytest.fixture
def engagement(db: Any):
    return EngagementFactory(name="Acme Corp", slug="acme-corp")


@pytest.fixture
def operator(engagement: Any):
    user = UserFactory(username="olivia")
    MembershipFactory(user=user, engagement=engagement, role=Membership.Role.OPERATOR)
    return user


@pytest.fixture
def viewer(engagement: Any):
    user = UserFactory(username="victor")
    MembershipFactory(user=user, engagement=engagement, role=Membership.Role.VIEWER)
    return user


@pytest.fixture
def operator_client(client: Client, operator: Any) -> Client:
    """The test client, logged in as the engagement's operator."""
    client.force_login(operator)
    return client


@pytest.fixture
def outsider(db: Any):
    other = EngagementFactory(name="Other Co", slug="other-co")
    user = UserFactory(username="mallory")
    MembershipFactory(user=user, engagement=other, role=Membership.Role.OPERATOR)
    return user


@pytest.fixture
def through_the_broker(monkeypatch: Any) -> None:
    """From the call on, jobs go to the broker (django-q2's own setting) instead of running
    inline: they stay queued until a worker, or the test, runs them."""
    monkeypatch.setattr(Conf, "SYNC", False)


@pytest.fixture
def make_session(
    engagement: Any, operator: Any, django_capture_on_commit_callbacks: Any
) -> Callable[..., ProcessingSession]:
    """A session built the way operators build one: through the service, with the
    recalculation run (q2 runs tasks inline in tests)."""

    def build(
        card: str = "car_2026_10.csv",
        receipts: str | None = "receipts_2026_10_v1.csv",
        tolerance: str = "1.00",
        name: str = "October 2026",
        **kwargs: Any,
    ) -> ProcessingSession:
        with django_capture_on_commit_callbacks(execute=True):
            session = session_create(
                engagement=kwargs.pop("engagement", engagement),
                name=name,
                period_start=datetime.date(2026, 10, 1),
                period_end=datetime.date(2026, 10, 31),
                tolerance=Decimal(tolerance),
                card_file=fixture_file(card),
                receipts_file=fixture_file(receipts) if receipts else None,
                actor=kwargs.pop("actor", operator),
                **kwargs,
            )
        session.refresh_from_db()
        return session

    return build


@pytest.fixture
def upload_receipts(operator: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    def upload(session: ProcessingSession, name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("actor", operator)
        with django_capture_on_commit_callbacks(execute=True):
            version = receipt_version_upload(session=session, file=fixture_file(name), **kwargs)
        session.refresh_from_db()
        return version

    return upload
